"""Stage ``evaluate``: does a LoRA checkpoint do what it claims?

* :mod:`ltxvoice.models.lora_file` (shared with ``lora inspect``) - what is in a LoRA file (tensors,
  dtypes, finiteness, rank, modules touched, keys loaders would ignore, norms of B·A) and how far two
  checkpoints are apart.
* :mod:`.sampler` - generation with LTX-2.3 on ltx-core, the LoRA fused by ltx-core's own loader.
* :mod:`.sweep` - the controlled tests run against any generator, measured on the generated span.
* :mod:`.stats` - slopes, voicing, leak, drift with bootstrap CIs over seeds, and the decisions.
* :mod:`.run` / :mod:`.report` - the stage: checkpoints, arms, metrics, plots and the report.
"""
