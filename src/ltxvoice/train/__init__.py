"""LoRA training for LTX-2.3 on ltx-core 1.0.0 + peft (the ``train`` stage's library).

- :mod:`~ltxvoice.train.presets`: which modules a LoRA adapts (the seed recipes) and module groups.
- :mod:`~ltxvoice.train.lora`: peft adapters and the LoRA file ComfyUI/ltx-core read.
- :mod:`~ltxvoice.train.inspection`: ``lora inspect`` - checks a LoRA file against a model.
- :mod:`~ltxvoice.train.data`: precomputed items (the encode stage's format) and the data order.
- :mod:`~ltxvoice.train.flow` / :mod:`~ltxvoice.train.strategies`: flow matching and the strategies.
- :mod:`~ltxvoice.train.memory`: quantized frozen base, block offload, selective checkpointing.
- :mod:`~ltxvoice.train.trainer`: the run (accelerate), checkpoints, resume, curves.

Modules import torch/ltx-core lazily, so ``import ltxvoice.train`` stays cheap.
"""
