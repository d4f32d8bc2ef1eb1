"""The Gemma-3 text encoder of LTX-2.3, loaded through ``ltx-core`` 1.0.0.

LTX-2.3 encodes a caption with a Gemma 3 12B folder (the Hugging Face ``google/gemma-3-12b-it``
layout: ``config.json``, ``model-0000N-of-0000M.safetensors`` + ``model.safetensors.index.json`` with
keys ``language_model.model.*`` / ``vision_tower.vision_model.*`` / ``multi_modal_projector.*``,
``tokenizer.model`` + ``tokenizer.json`` + ``tokenizer_config.json``, ``preprocessor_config.json``).
ltx-core then runs

    tokenizer (left-padded to 1024 tokens) -> Gemma -> all hidden states
    -> feature extractor (``text_embedding_projection.*`` of the LTX checkpoint)
    -> video / audio embeddings connectors (``model.diffusion_model.*_embeddings_connector.*``)
    -> the transformer's video / audio cross-attention context.

Two things in ltx-core 1.0.0 do not fit this project as shipped, and are adapted here rather
than patched:

* ``GemmaTextEncoderConfigurator`` and the feature extractor are sized from a hard-coded 12B
  config, whatever the folder holds. Here both are sized from the folder's own ``config.json``
  (which is what later ltx-core releases do with ``with_gemma_model_path``): for the real folder
  this is the same 12B shape, and a tiny random folder can run the same code.
* ``GEMMA_MODEL_OPS`` fills Gemma's non-persistent buffers through module names of transformers
  4.5x (``vision_tower.vision_model``, ``rotary_emb_local``); transformers 5 renamed them. The
  ops here fill the same buffers through transformers' own constructors and map the checkpoint's
  ``vision_tower.vision_model.*`` keys to whichever layout the installed transformers has.

Everything else (``GemmaTextEncoder.encode``, the tokenizer wrapper, the builder, the key ops for
the language model, the feature extractor and connectors) is ltx-core's code.
:func:`write_tiny_gemma` writes a random-weight folder in the real layout, with a BPE tokenizer
trained offline on a small built-in text, so all of it runs on a CPU in seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable

MAX_TOKENS = 1024  # ltx-core pads/truncates every caption to this many tokens

# Real Gemma 3 special tokens, in the order of the real vocabulary's first ids.
_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
             "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
_BYTES = [f"<0x{i:02X}>" for i in range(256)]

TINY_TEXT = {  # real (12B): hidden 3840, 48 layers, 16 heads x 256, 8 kv heads, vocab 262208
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 1, "head_dim": 32, "query_pre_attn_scalar": 32, "vocab_size": 1024,
    "sliding_window": 64, "sliding_window_pattern": 2,  # real 1024 / 6: layer 0 local, layer 1 global
}
TINY_VISION = {  # real: SigLIP 27 layers x 1152, 896 px / 14 px patches
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
    "image_size": 28, "patch_size": 14,
}


TINY_GEMMA_FILES = frozenset({
    "config.json", "generation_config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json",
    "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
    "preprocessor_config.json", "processor_config.json"})


class GemmaFolderError(ValueError):
    """A Gemma text-encoder folder that cannot be used; the message names the folder and the problem."""


def tiny_gemma_config() -> dict[str, Any]:
    """``config.json`` of a Gemma 3 multimodal checkpoint (the 12B file's structure and switches),
    shrunk: only widths, depths, vocabulary and the special-token ids (moved into the small
    vocabulary) differ."""
    from ltx_core.text_encoders.gemma.config import GEMMA3_CONFIG_FOR_LTX

    config = GEMMA3_CONFIG_FOR_LTX.to_dict()
    config["text_config"].update(TINY_TEXT)
    config["vision_config"].update(TINY_VISION)
    ids = {t: i for i, t in enumerate(_SPECIALS)}
    config.update(mm_tokens_per_image=4, boi_token_index=ids["<start_of_image>"],
                  eoi_token_index=ids["<end_of_image>"], image_token_index=ids["<image_soft_token>"],
                  eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]])
    return config


_WORDS = (
    "a the woman man person speaks says talks whispers whispering soft spoken voice high low pitch tone "
    "clear close intimate asmr studio quiet room camera face looks at into while and with of in on to "
    "her his their calm warm bright deep breathy steady slow fast word words sentence hello today morning "
    "evening please thank you yes no we will can it is was this that there here one two three small big "
    "light dark red blue green young old friendly serious smiling talking head shot frame video clip audio "
    "speech sound sings reads tells story about weather river garden train door folder shelf second before "
    "leave close put quick brown fox jumps over lazy dog bank"
).split()


def _training_text(seed: int, lines: int = 1500) -> list[str]:
    """A small deterministic English-like corpus (seeded), with every printable ASCII character."""
    rng = random.Random(seed)
    text = []
    for _ in range(lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 14))]
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        line = " ".join(words)
        if rng.random() < 0.3:
            line = f'{line}: "{" ".join(rng.choice(_WORDS) for _ in range(3))}"'
        text.append(line + rng.choice([".", ",", "!", "?", ""]))
    text.append("".join(chr(c) for c in range(32, 127)))
    return text


def build_tokenizer(seed: int = 0, vocab_size: int = TINY_TEXT["vocab_size"]) -> Any:
    """A Gemma-style tokenizer (``tokenizers`` BPE with byte fallback, spaces as ``▁``, ``<bos>``
    first) trained offline on :func:`_training_text`. As in Gemma's vocabulary, ids 0-9 are the
    special tokens, then come the 256 byte-fallback tokens (ordinary tokens, so decoding keeps
    them), then the learned pieces. Same seed, same tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.normalizer = normalizers.Replace(" ", "▁")
    learner.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")  # no merge across words
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(_BYTES), special_tokens=_SPECIALS, min_frequency=2,
                                  show_progress=False, initial_alphabet=[chr(c) for c in range(33, 127)] + ["▁"])
    learner.train_from_iterator(_training_text(seed), trainer=trainer)
    trained = json.loads(learner.to_str())["model"]
    learned = [t for t, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]) if t not in _SPECIALS]
    vocab = {t: i for i, t in enumerate(_SPECIALS + _BYTES + learned)}
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.add_special_tokens(_SPECIALS)
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")  # Gemma's own
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", _SPECIALS.index("<bos>"))])
    if tok.get_vocab_size() != vocab_size:
        raise RuntimeError(f"tokenizer training gave {tok.get_vocab_size()} tokens, wanted {vocab_size}")
    return tok


def _sentencepiece_model(tokenizer: Any) -> bytes:
    """The same vocabulary as a SentencePiece ``tokenizer.model`` (BPE, byte fallback), the file the
    real folder ships and ltx-core looks for to find the tokenizer."""
    ensure_torchaudio_importable()
    from transformers.utils import sentencepiece_model_pb2_new

    spm: Any = sentencepiece_model_pb2_new  # generated protobuf classes: no static types

    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    proto = spm.ModelProto()
    proto.trainer_spec.model_type = spm.TrainerSpec.BPE
    proto.trainer_spec.vocab_size = len(vocab)
    proto.trainer_spec.byte_fallback = True
    proto.trainer_spec.pad_id, proto.trainer_spec.eos_id, proto.trainer_spec.bos_id, proto.trainer_spec.unk_id = 0, 1, 2, 3
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = False
    for token, idx in vocab:
        piece = proto.pieces.add()
        piece.piece = token
        piece.score = 0.0 if idx < len(_SPECIALS) + len(_BYTES) else -float(idx)
        if token == "<unk>":
            piece.type = spm.ModelProto.SentencePiece.UNKNOWN
        elif token in _SPECIALS:
            piece.type = spm.ModelProto.SentencePiece.CONTROL
        elif token in _BYTES:
            piece.type = spm.ModelProto.SentencePiece.BYTE
        else:
            piece.type = spm.ModelProto.SentencePiece.NORMAL
    return proto.SerializeToString(deterministic=True)


def _hf_key(module_key: str) -> str:
    """transformers-5 ``Gemma3ForConditionalGeneration`` key -> key in the Hugging Face checkpoint."""
    for new, old in (("model.language_model.", "language_model.model."),
                     ("model.vision_tower.vision_model.", "vision_tower.vision_model."),
                     ("model.vision_tower.", "vision_tower.vision_model."),
                     ("model.multi_modal_projector.", "multi_modal_projector.")):
        if module_key.startswith(new):
            return old + module_key[len(new):]
    raise KeyError(module_key)


def _init(name: str, shape: tuple[int, ...], seed: int) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    if len(shape) == 1:
        # Gemma's RMSNorms scale by (1 + w); SigLIP's LayerNorms by w.
        base = 1.0 if name.startswith("vision_tower.") and name.endswith("weight") else 0.0
        return base + 0.02 * torch.randn(shape, generator=g)
    if name.endswith("embed_tokens.weight"):
        return 0.02 * torch.randn(shape, generator=g)
    fan_in = max(1, math.prod(shape[1:]) if len(shape) > 1 else 1)
    if name.endswith("mm_input_projection_weight"):  # stored [vision_dim, text_dim], used as x @ W
        fan_in = shape[0]
    return torch.randn(shape, generator=g) / math.sqrt(fan_in)


def write_tiny_gemma(folder: Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight Gemma 3 folder in the real Hugging Face layout.

    Files: ``config.json`` (:func:`tiny_gemma_config`), ``generation_config.json``, one bf16 shard
    ``model-00001-of-00001.safetensors`` with the real key names (``language_model.model.*``,
    ``vision_tower.vision_model.*``, ``multi_modal_projector.*``; the LM head is tied, as in the real
    file) and its ``model.safetensors.index.json``, ``tokenizer.json`` / ``tokenizer.model`` /
    ``tokenizer_config.json`` / ``special_tokens_map.json`` (:func:`build_tokenizer`), and
    ``preprocessor_config.json`` / ``processor_config.json`` for the image processor. Same seed,
    same bytes."""
    ensure_torchaudio_importable()  # transformers imports torchaudio
    import torch
    from safetensors.torch import save_file
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    folder = Path(folder)
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in TINY_GEMMA_FILES)
        if foreign:
            raise FileExistsError(f"{folder} holds files a tiny Gemma folder does not have ({', '.join(foreign[:3])}); "
                                  "refusing to mix them (choose an empty or new folder)")
    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_gemma_config()
    _write_json(folder / "config.json", config)
    _write_json(folder / "generation_config.json", {"bos_token_id": 2, "eos_token_id": config["eos_token_id"],
                                                     "pad_token_id": 0, "do_sample": True, "top_k": 64, "top_p": 0.95})
    with torch.device("meta"):
        model = Gemma3ForConditionalGeneration(Gemma3Config.from_dict(config))
    tensors: dict[str, Any] = {}
    for key, ref in model.state_dict().items():
        if key == "lm_head.weight":  # tied to embed_tokens; not stored in the real checkpoint
            continue
        name = _hf_key(key)
        tensors[name] = _init(name, tuple(ref.shape), seed).to(torch.bfloat16).contiguous()
    shard = "model-00001-of-00001.safetensors"
    save_file(dict(sorted(tensors.items())), str(folder / shard), metadata={"format": "pt"})
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    _write_json(folder / "model.safetensors.index.json",
                {"metadata": {"total_size": size}, "weight_map": {k: shard for k in sorted(tensors)}})

    tokenizer = build_tokenizer(seed)
    (folder / "tokenizer.json").write_text(tokenizer.to_str(pretty=True) + "\n", encoding="utf-8")
    (folder / "tokenizer.model").write_bytes(_sentencepiece_model(tokenizer))
    specials = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    _write_json(folder / "special_tokens_map.json", specials)
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False,
        "model_max_length": MAX_TOKENS, "padding_side": "left", "clean_up_tokenization_spaces": False,
        "spaces_between_special_tokens": False, "processor_class": "Gemma3Processor", **specials,
    })
    _write_json(folder / "preprocessor_config.json", {
        "image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor",
        "do_resize": True, "size": {"height": TINY_VISION["image_size"], "width": TINY_VISION["image_size"]},
        "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": None,
        "do_pan_and_scan": None, "pan_and_scan_min_crop_size": None,
        "pan_and_scan_max_num_crops": None, "pan_and_scan_min_ratio_to_activate": None,
    })
    _write_json(folder / "processor_config.json", {"processor_class": "Gemma3Processor",
                                                   "image_seq_length": config["mm_tokens_per_image"]})
    return folder


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class GemmaFolder:
    """The checked parts of a Gemma text-encoder folder."""

    root: Path
    config: dict[str, Any]
    weights: tuple[Path, ...]

    @property
    def hidden_size(self) -> int:
        return int(self.config["text_config"]["hidden_size"])

    @property
    def num_hidden_layers(self) -> int:
        return int(self.config["text_config"]["num_hidden_layers"])

    def fingerprint(self) -> str:
        """SHA-256 over every file's name and bytes: what a cache of encoded captions depends on."""
        from ltxvoice.records import sha256_file

        h = hashlib.sha256()
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            h.update(f"{path.relative_to(self.root)}\0{sha256_file(path)}\n".encode())
        return h.hexdigest()


def gemma_folder(root: Path) -> GemmaFolder:
    """Check a Gemma folder before loading it: a readable ``config.json`` with a text config, the
    tokenizer files, and every shard the index names (or ``model*.safetensors``). Raises
    ``FileNotFoundError`` / :class:`GemmaFolderError` naming the folder and what is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Gemma text encoder folder not found: {root}")
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GemmaFolderError(f"{root}: no config.json (expected a Hugging Face Gemma 3 folder)") from None
    except json.JSONDecodeError as exc:
        raise GemmaFolderError(f"{root / 'config.json'}: not valid JSON ({exc.msg})") from None
    text = config.get("text_config") if isinstance(config, dict) else None
    if not isinstance(text, dict) or not {"hidden_size", "num_hidden_layers"} <= text.keys():
        raise GemmaFolderError(f"{root / 'config.json'}: no text_config with hidden_size and num_hidden_layers "
                               "(expected a Gemma 3 multimodal config, model_type gemma3)")
    missing = [n for n in ("tokenizer.model", "tokenizer_config.json") if not (root / n).is_file()]
    if missing:
        raise GemmaFolderError(f"{root}: tokenizer file(s) missing: {', '.join(missing)}")
    index = root / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        weights = tuple(root / n for n in names)
        absent = [str(p.name) for p in weights if not p.is_file()]
        if absent:
            raise GemmaFolderError(f"{root}: weight shard(s) named in {index.name} are missing: {', '.join(absent)}")
    else:
        weights = tuple(sorted(root.glob("model*.safetensors")))
        if not weights:
            raise GemmaFolderError(f"{root}: no model*.safetensors weights")
    return GemmaFolder(root=root, config=config, weights=weights)


def _bound(cls: type, name: str, folder: GemmaFolder) -> type:
    """A subclass of a configurator bound to one folder (unique name per folder, so builders and
    registries keyed by class do not mix two folders)."""
    digest = hashlib.sha256(str(folder.root.resolve()).encode()).hexdigest()[:12]
    return type(f"{name}_{digest}", (cls,), {"gemma": folder})


def text_encoder_configurator(folder: GemmaFolder) -> type:
    """ltx-core configurator building ``GemmaTextEncoder`` from the folder's own config.json."""
    ensure_torchaudio_importable()
    from ltx_core.text_encoders.gemma import GemmaTextEncoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    class GemmaFolderTextEncoderConfigurator:
        gemma: GemmaFolder

        @classmethod
        def from_config(cls, config: dict) -> Any:  # noqa: ARG003 - the LTX config does not size Gemma
            # built under the builder's meta device: no memory until the weights are assigned
            model = Gemma3ForConditionalGeneration(Gemma3Config.from_dict(cls.gemma.config))
            return GemmaTextEncoder(model=model)

    return _bound(GemmaFolderTextEncoderConfigurator, "GemmaFolderTextEncoderConfigurator", folder)


def embeddings_processor_configurator(hidden_size: int, num_hidden_layers: int) -> type:
    """ltx-core's ``EmbeddingsProcessorConfigurator`` with its feature extractor sized for a Gemma of
    ``hidden_size`` x (``num_hidden_layers`` + 1) hidden states instead of the hard-coded 12B shape. ltx-core still
    chooses the extractor kind (V1/V2) from the checkpoint config and rejects configs it does not
    know; for the real 12B folder the module is identical to ltx-core's."""
    ensure_torchaudio_importable()
    import torch
    from ltx_core.text_encoders.gemma import EmbeddingsProcessor, EmbeddingsProcessorConfigurator
    from ltx_core.text_encoders.gemma.embeddings_connector import (
        AudioEmbeddings1DConnectorConfigurator, Embeddings1DConnectorConfigurator)
    from ltx_core.text_encoders.gemma.encoders.encoder_configurator import _create_feature_extractor
    from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV1, FeatureExtractorV2

    class SizedEmbeddingsProcessorConfigurator(EmbeddingsProcessorConfigurator):
        @classmethod
        def from_config(cls, config: dict) -> Any:
            t = config.get("transformer", {})
            with torch.device("meta"):  # validates the config and picks V1 / V2, at no memory cost
                stock = _create_feature_extractor(t)
            dim, flat = hidden_size, hidden_size * (num_hidden_layers + 1)
            if isinstance(stock, FeatureExtractorV2):
                video = t["num_attention_heads"] * t["attention_head_dim"]
                audio = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
                extractor: torch.nn.Module = FeatureExtractorV2(
                    video_aggregate_embed=torch.nn.Linear(flat, video, bias=True), embedding_dim=dim,
                    audio_aggregate_embed=torch.nn.Linear(flat, audio, bias=True))
            elif isinstance(stock, FeatureExtractorV1):
                extractor = FeatureExtractorV1(aggregate_embed=torch.nn.Linear(flat, dim, bias=False), is_av=True)
            else:  # pragma: no cover - a future ltx-core kind
                raise NotImplementedError(f"unknown feature extractor {type(stock).__name__}")
            return EmbeddingsProcessor(video_connector=Embeddings1DConnectorConfigurator.from_config(config),
                                       audio_connector=AudioEmbeddings1DConnectorConfigurator.from_config(config),
                                       feature_extractor=extractor)

    # one class name per shape, so registries keyed by class never mix two shapes
    return type(f"EmbeddingsProcessorConfigurator_gemma_{hidden_size}x{num_hidden_layers}",
                (SizedEmbeddingsProcessorConfigurator,), {})


def _siglip_is_flat() -> bool:
    """Whether the installed transformers keeps SigLIP's layers directly under ``vision_tower``
    (transformers 5) rather than under ``vision_tower.vision_model`` (4.x, the checkpoint's keys)."""
    ensure_torchaudio_importable()
    import torch
    from transformers import SiglipVisionConfig
    from transformers.models.siglip.modeling_siglip import SiglipVisionModel

    with torch.device("meta"):
        probe = SiglipVisionModel(SiglipVisionConfig(hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                                                     num_attention_heads=1, image_size=14, patch_size=14))
    return not hasattr(probe, "vision_model")


def gemma_key_ops() -> Any:
    """ltx-core's ``GEMMA_LLM_KEY_OPS`` (checkpoint keys -> ``GemmaTextEncoder`` keys, LM head tied to
    the embeddings) for the module layout of the installed transformers: transformers 5 keeps
    SigLIP's layers directly under ``vision_tower`` (no ``vision_model``)."""
    ensure_torchaudio_importable()
    from ltx_core.loader import KeyValueOperationResult
    from ltx_core.loader.sd_ops import SDOps

    vision_from, vision_to = ("vision_tower.vision_model.", "model.model.vision_tower.") if _siglip_is_flat() else \
        ("vision_tower.", "model.model.vision_tower.")
    return (
        SDOps("GEMMA_LLM_KEY_OPS_TRANSFORMERS_LAYOUT")
        .with_matching(prefix="language_model.model.")
        .with_replacement("language_model.model.", "model.model.language_model.")
        .with_matching(prefix="vision_tower.")
        .with_replacement(vision_from, vision_to)
        .with_matching(prefix="multi_modal_projector.")
        .with_replacement("multi_modal_projector.", "model.model.multi_modal_projector.")
        .with_kv_operation(
            operation=lambda key, value: [KeyValueOperationResult(key, value),
                                          KeyValueOperationResult("model.lm_head.weight", value)],
            key_prefix="model.model.language_model.embed_tokens.weight",
        )
    )


def _fill_buffers(module: Any) -> Any:
    """Recreate Gemma's non-persistent buffers (not in any checkpoint) on the CPU: the rotary
    frequencies, the embedding scale and SigLIP's position ids; the same job as ltx-core's
    ``GEMMA_MODEL_OPS``, through the installed transformers' own classes."""
    import torch

    model = module.model
    text_config = model.config.text_config
    lm = model.model.language_model
    with torch.device("cpu"):
        lm.rotary_emb = type(lm.rotary_emb)(text_config)
    lm.embed_tokens.embed_scale = torch.tensor(text_config.hidden_size**0.5)
    vision = model.model.vision_tower
    embeddings = vision.vision_model.embeddings if hasattr(vision, "vision_model") else vision.embeddings
    embeddings.position_ids = torch.arange(embeddings.num_positions).expand((1, -1))
    return module


def load_text_encoder(root: Path, device: str = "cpu", dtype: Any = None) -> Any:
    """Load ``GemmaTextEncoder`` (Gemma + tokenizer + image processor) from a Gemma folder with
    ltx-core's ``SingleGPUModelBuilder``. A weight the folder lacks is an error naming it (ltx-core
    alone would only warn and leave it on the meta device)."""
    ensure_torchaudio_importable()
    import torch
    from ltx_core.loader import SingleGPUModelBuilder
    from ltx_core.loader.module_ops import ModuleOps
    from ltx_core.text_encoders.gemma import module_ops_from_gemma_root

    folder = gemma_folder(root)
    fill = ModuleOps("FillGemmaBuffers", matcher=lambda m: hasattr(m, "model"), mutator=_fill_buffers)
    builder = SingleGPUModelBuilder(
        model_class_configurator=text_encoder_configurator(folder),
        model_path=tuple(str(p) for p in folder.weights),
        model_sd_ops=gemma_key_ops(),
        module_ops=(fill, *module_ops_from_gemma_root(str(folder.root))),
    )
    model = builder.build(device=torch.device(device), dtype=dtype)
    meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if meta:
        shown = ", ".join(meta[:10]) + (f" (+{len(meta) - 10} more)" if len(meta) > 10 else "")
        raise GemmaFolderError(f"{folder.root}: Gemma weights missing {len(meta)} tensor(s) (left on meta): {shown}")
    return model.eval()


def caption_features(caption: str, text_encoder: Any, embeddings_processor: Any) -> tuple[Any, Any, Any]:
    """One caption through ltx-core's text path up to the feature extractor, as the LTX trainer
    stores it: ``(video_features [T, Dv], audio_features [T, Da], mask [T] bool)`` with T = 1024
    left-padded tokens. Gemma's hidden states are cast to the feature extractor's dtype."""
    import torch

    dtype = next(embeddings_processor.parameters()).dtype
    with torch.inference_mode():
        hidden, mask = text_encoder.encode(caption)
        hidden = tuple(h.to(dtype) for h in hidden)
        video, audio = embeddings_processor.feature_extractor(hidden, mask, "left")
    if audio is None:
        raise ValueError("the checkpoint's text projection gives no audio features (a video-only checkpoint?)")
    return video[0], audio[0], mask[0].to(torch.bool)
