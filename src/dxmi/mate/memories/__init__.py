"""Sequence memories over transition tokens: MATE and its baselines, by name."""

from dxmi.mate.memories.base import MemoryState, SequenceMemory, segmented_cumsum
from dxmi.mate.memories.mate import MATEMemory
from dxmi.mate.memories.recurrent import GRUMemory, LSTMMemory
from dxmi.mate.memories.simple import MemorylessMemory, TrueContextMemory
from dxmi.mate.memories.transformer import TransformerMemory

MEMORIES: dict[str, type[SequenceMemory]] = {
    "mate": MATEMemory,
    "lstm": LSTMMemory,
    "gru": GRUMemory,
    "transformer": TransformerMemory,
    "memoryless": MemorylessMemory,
    "true_context": TrueContextMemory,
}


def build_memory(name: str, token_dim: int, context_dim: int = 0,
                 **kwargs: object) -> SequenceMemory:
    """Build the memory ``name`` (one of ``MEMORIES``) with width ``token_dim``."""
    if name not in MEMORIES:
        raise ValueError(f"unknown memory {name!r}; choose one of {sorted(MEMORIES)}")
    cls = MEMORIES[name]
    if cls is TrueContextMemory:
        kwargs = {"context_dim": context_dim, **kwargs}
    try:
        return cls(token_dim, **kwargs)  # type: ignore[arg-type]
    except TypeError as err:
        raise ValueError(f"bad memory_kwargs for {name!r}: {kwargs} ({err})") from None


__all__ = ["MEMORIES", "GRUMemory", "LSTMMemory", "MATEMemory", "MemoryState",
           "MemorylessMemory", "SequenceMemory", "TransformerMemory", "TrueContextMemory",
           "build_memory", "segmented_cumsum"]
