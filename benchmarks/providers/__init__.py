"""Cloud adapters against their wire fakes (issue #3): time to first output,
the client side's share of it, fallback switch time and voice to voice.

* ``remote``: the fakes' process (pinned to its own core) and their hold times;
* ``measure``: samples, percentiles, the timed-call wrapper;
* ``cases``: one call per stage, through an adapter or a bare client;
* ``sockets``: input-streaming TTS cases and text streamed at LLM pace;
* ``fallback``: failure -> next provider's first output;
* ``v2v``: end of speech -> first audio through whole stacks;
* ``runner``: runs them all; ``report``: the target and the tables.

Entry point: ``python -m benchmarks.providers_bench``.
"""
