"""What a fallback chain's text stream says about the text its audio voices:
marks in the reply's offsets, where a new voice resumes, sentence ends from a
voice fed sentence by sentence. On the virtual clock, with the in-process fakes."""

from __future__ import annotations

from pipelines.fallback import FallbackTTS, SentenceTextStream
from pipelines.providers.base import AlignedTextStream, SpeechChunk
from pipelines.providers.fake import FakeStreamingTTS, FakeTTS, FakeTTSKnobs
from pipelines.text import StreamAligner, heard_text
from tests.virtual_time import run_virtual

REPLY = "Sure, I can do that. Friday works. Anything else for you today?"


async def speech(stream: AlignedTextStream, text: str) -> list[SpeechChunk]:
    for word in text.split(" "):
        stream.push_text(word + " ")
    stream.end_input()
    return [chunk async for chunk in stream.speech()]


def test_a_voice_fed_sentence_by_sentence_marks_where_each_sentence_ends() -> None:
    async def main() -> None:
        voice = FakeTTS()
        stream = SentenceTextStream(voice)
        chunks = await speech(stream, REPLY)
        pushed = "".join(w + " " for w in REPLY.split(" "))
        ends = [m.offset for c in chunks for m in c.marks]
        assert [pushed[:e].strip()[-1] for e in ends] == [".", ".", "?"]
        assert [pushed[a:b].strip() for a, b in zip([0, *ends], ends, strict=False)] == voice.spoken
        # Audio chunks say which sentence they belong to.
        assert {c.upto for c in chunks if c.audio} == set(ends)
        samples = 0
        for chunk in chunks:
            samples += len(chunk.audio) // 2
            for mark in chunk.marks:
                said = voice.spoken[: ends.index(mark.offset) + 1]
                assert samples == sum(voice.samples_for(s) for s in said)

    run_virtual(main())


def test_the_chain_says_where_the_backup_resumes_and_shifts_its_marks() -> None:
    async def main() -> None:
        # 25 chunks of 20 ms = 0.5 s of the first voice, then it fails.
        first = FakeStreamingTTS(knobs=FakeTTSKnobs(fail_after_chunks=25))
        backup = FakeTTS(name="backup")
        chain = FallbackTTS([first, backup])
        stream = await chain.open_stream()
        assert isinstance(stream, AlignedTextStream)
        chunks = await speech(stream, REPLY)
        pushed = "".join(w + " " for w in REPLY.split(" "))
        [resume] = [c for c in chunks if c.resumes_at is not None]
        at = resume.resumes_at
        assert at is not None and 0 < at < len("Sure, I can do")
        assert pushed[at - 1] == " "  # at a word's start
        assert backup.spoken[0] == pushed[at:].split(". ")[0] + "."
        # The backup's sentence ends, in the reply's offsets.
        marks = [m.offset for c in chunks for m in c.marks]
        assert [pushed[:m].strip()[-1] for m in marks] == [".", ".", "?"]
        # Through the aligner: history at each sentence end is the reply up to it,
        # and the words the backup repeats are not counted twice.
        aligner = StreamAligner(16_000)
        aligner.push(pushed)
        segments, played, ends = [], 0, []
        for chunk in chunks:
            played += len(chunk.audio) // 2
            segments += aligner.add(chunk, len(chunk.audio) // 2)
            ends += [played for _ in chunk.marks]
        for end, mark in zip(ends, marks, strict=True):
            assert heard_text(segments, end) == pushed[:mark].strip()
        assert heard_text(segments, played) == REPLY

    run_virtual(main())
