"""LoRA training for LTX-2.3 on ltx-core 1.0.0 + peft (the ``train`` stage's library).

- :mod:`~ltxvoice.train.presets`: which modules a LoRA adapts (the seed recipes).
- :mod:`~ltxvoice.train.lora`: peft adapters and the LoRA file ComfyUI/ltx-core read (its format and
  inspection: :mod:`ltxvoice.models.lora_file`).
- :mod:`~ltxvoice.train.data`: precomputed items (the encode stage's format) and the data order.
- :mod:`~ltxvoice.train.flow_matching` / :mod:`~ltxvoice.train.strategies`: flow matching and the strategies.
- :mod:`~ltxvoice.train.memory`: quantized frozen base, block offload, selective checkpointing.
- :mod:`~ltxvoice.train.engine`: model setup and the forward loss, independent of params.yaml.
- :mod:`~ltxvoice.train.optim`: optimizers and learning-rate schedules.
- :mod:`~ltxvoice.train.checkpoint` / :mod:`~ltxvoice.train.trainer`: the run (accelerate),
  checkpoints, resume, curves; :mod:`~ltxvoice.train.launch`: several processes through torchrun.

The model itself (transformer, text connectors) is loaded by :mod:`ltxvoice.models.ltx`. Modules
import torch/ltx-core lazily, so ``import ltxvoice.train`` stays cheap.
"""
