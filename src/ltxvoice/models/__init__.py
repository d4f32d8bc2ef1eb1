"""Models: loaders of real checkpoints and generators of tiny random-weight ones in the real file
layouts (written by stage ``tiny_models``, see :mod:`ltxvoice.tiny_models`).

- :mod:`.ltx` - LTX-2.3 on ltx-core: the unified checkpoint, its components, the transformer (with
  LoRAs fused), the text connectors; :mod:`.gemma` - its Gemma 3 text encoder.
- :mod:`.lora_file` - LoRA files for the LTX-2.3 transformer: key format, module groups, inspection.
- :mod:`.whisper`, :mod:`.asr` - Whisper models for captions; :mod:`.roformer` - the vocal separator.
- :mod:`.device` - which torch device a stage runs on; :mod:`.torchaudio_shim` - torchaudio where
  its compiled extension does not load.
"""
