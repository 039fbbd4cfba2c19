"""MATE: constant-cost memory for contextual RL (memory of accumulated transition embeddings).

Parts, as in the method's diagram: ``tokenizer`` (transition and observation embedders),
``memories`` (MATE and the baselines behind one interface), ``agents`` (SAC, Double DQN),
``replay`` (whole-episode replay), ``envs`` (batched contextual tasks), ``train`` (outer loop),
``cli`` (``dxmi mate train`` / ``dxmi mate evaluate``).
"""

from dxmi.mate.memories import MEMORIES, SequenceMemory, build_memory
from dxmi.mate.tokenizer import ActionSpec, Tokenizer

__all__ = ["MEMORIES", "ActionSpec", "SequenceMemory", "Tokenizer", "build_memory"]
