"""Tiny random-weight Whisper models in the file layouts openai-whisper and faster-whisper load.

:func:`write_tiny_openai_whisper` writes a ``.pt`` checkpoint like ``tiny.pt``/``small.pt`` (a dict of
``dims`` and ``model_state_dict``) for ``whisper.load_model(path)``. :func:`write_tiny_faster_whisper`
writes a CTranslate2 folder like ``Systran/faster-whisper-small`` (``model.bin``, ``config.json``,
``vocabulary.json``, ``tokenizer.json``, ``preprocessor_config.json``) for
``faster_whisper.WhisperModel(path)``. Both are multilingual 99-language, 80-mel models -- the layout of
tiny/base/small/medium/large-v2 -- so the tokenizers and feature extractors bundled with the libraries
apply unchanged; only the widths and depths are shrunk.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path
from typing import Any

from ltxvoice.models.torchaudio_shim import hide_broken_torchaudio

# Mel bins and vocabulary of every multilingual model up to large-v2: 50257 BPE tokens, <|endoftext|>,
# <|startoftranscript|>, 99 language tokens, 6 task/control tokens and 1501 timestamps <|0.00|>..<|30.00|>.
# (51864 = English-only ".en" vocabulary; 51866 + 128 mels = large-v3/turbo with 100 languages.)
N_MELS = 80
N_VOCAB = 51865
N_LANGUAGES = 99
# Fixed by the 30 s window: 3000 mel frames, halved by the stride-2 conv -> 1500 encoder positions; both
# libraries assert or assume them. 448 is every real model's text context.
N_AUDIO_CTX = 1500
N_TEXT_CTX = 448
# The only shrunk numbers (real tiny: width 384, 6 heads, 4 + 4 layers).
WIDTH, HEADS, LAYERS = 64, 2, 2

EOT, SOT = 50257, 50258
# Control tokens after the language tokens, in id order 50358..50363 (HF spells 50362 <|nocaptions|>,
# openai-whisper <|nospeech|>; faster-whisper and CTranslate2 accept either).
_CONTROL = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>")


def _languages() -> list[str]:
    from whisper.tokenizer import LANGUAGES  # insertion order == token id order

    return list(LANGUAGES)[:N_LANGUAGES]


def write_tiny_openai_whisper(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny openai-whisper checkpoint to ``path`` (loadable by ``whisper.load_model(str(path))``).

    Weights are PyTorch's default initialisation of openai-whisper's own ``Whisper`` class under
    ``torch.manual_seed(seed)`` (the caller's RNG is left untouched), plus a seeded normal fill of the
    decoder's positional embedding, which the class allocates with ``torch.empty`` (garbage/NaN
    otherwise). Same seed -> byte-identical file.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=N_MELS, n_audio_ctx=N_AUDIO_CTX, n_audio_state=WIDTH, n_audio_head=HEADS, n_audio_layer=LAYERS,
        n_vocab=N_VOCAB, n_text_ctx=N_TEXT_CTX, n_text_state=WIDTH, n_text_head=HEADS, n_text_layer=LAYERS,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Whisper(dims)
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    # The released checkpoints store float16 tensors; load_state_dict casts them into the float32 model.
    state = {key: value.half() for key, value in model.state_dict().items()}
    bad = [key for key, value in state.items() if not torch.isfinite(value).all()]
    if bad:
        raise RuntimeError(f"non-finite weights after initialisation: {bad}")
    # load_model reads checkpoint["dims"] as ModelDimensions(**dims) and checkpoint["model_state_dict"]
    # with weights_only=True, so both must be plain dicts/tensors. Saving through a buffer fixes the zip's
    # root folder name ("archive"), so the bytes depend on the seed alone.
    buffer = io.BytesIO()
    torch.save({"dims": dims.__dict__, "model_state_dict": state}, buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def _bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Rebuild the HF byte-level BPE vocabulary and merge list from openai-whisper's tiktoken file.

    ``multilingual.tiktoken`` holds ``base64(token bytes) rank`` lines; the ranks are the ids of HF's
    ``vocab.json``. Each multi-byte token's merge is the last pair left when its own bytes are merged
    greedily by rank using only lower-ranked tokens (what tiktoken's encoder does).
    """
    import whisper

    ranks: dict[bytes, int] = {}
    for line in (Path(whisper.__file__).parent / "assets" / "multilingual.tiktoken").read_text().splitlines():
        if line:
            encoded, rank_text = line.split()
            ranks[base64.b64decode(encoded)] = int(rank_text)
    # GPT-2's byte -> printable unicode map used by HF ByteLevel (printable Latin-1 bytes map to themselves).
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shifted = iter(range(256, 512))
    chars = {b: chr(b) if b in printable else chr(next(shifted)) for b in range(256)}

    def text(token: bytes) -> str:
        return "".join(chars[b] for b in token)

    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            _, i = min((ranks.get(parts[i] + parts[i + 1], rank), i) for i in range(len(parts) - 1))
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) == 2:
            merges.append((text(parts[0]), text(parts[1])))
    return {text(token): rank for token, rank in ranks.items()}, merges


def _generation_config(languages: list[str]) -> Any:
    """The fields of the real ``openai/whisper-*`` ``generation_config.json`` the converter reads."""
    from transformers import GenerationConfig
    from whisper.tokenizer import get_tokenizer

    suppress = sorted(get_tokenizer(multilingual=True, num_languages=N_LANGUAGES).non_speech_tokens)
    config = GenerationConfig(
        bos_token_id=EOT, eos_token_id=EOT, pad_token_id=EOT, decoder_start_token_id=SOT,
        max_length=N_TEXT_CTX,
        begin_suppress_tokens=[220, EOT],  # " " and <|endoftext|>, as in the real files
        suppress_tokens=suppress + [SOT, 50358, 50359, 50360, 50361, 50362],  # non-speech + control tokens
        is_multilingual=True, no_timestamps_token_id=50363, prev_sot_token_id=50361,
        lang_to_id={f"<|{code}|>": SOT + 1 + i for i, code in enumerate(languages)},
        task_to_id={"translate": 50358, "transcribe": 50359},
        # openai-whisper's default without a tuned list: every head of the last half of the decoder.
        alignment_heads=[[layer, head] for layer in range(LAYERS // 2, LAYERS) for head in range(HEADS)],
    )
    # With True (what GenerationConfig.from_model_config sets) from_pretrained rebuilds the generation
    # config from config.json, dropping lang_to_id, and the converter writes "lang_ids": [] (its tokenizer
    # fallback reads additional_special_tokens, which transformers 5 no longer has): detection breaks.
    config._from_model_config = False
    return config


def _write_hf_checkpoint(hf_dir: str, seed: int) -> None:
    """Write an ``openai/whisper-*``-style Hugging Face folder (weights, configs, tokenizer, features)."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

    languages = _languages()
    config = WhisperConfig(
        vocab_size=N_VOCAB, num_mel_bins=N_MELS, max_source_positions=N_AUDIO_CTX, max_target_positions=N_TEXT_CTX,
        d_model=WIDTH, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS, encoder_ffn_dim=4 * WIDTH, decoder_ffn_dim=4 * WIDTH,
        bos_token_id=EOT, eos_token_id=EOT, pad_token_id=EOT, decoder_start_token_id=SOT,
        begin_suppress_tokens=[220, EOT],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config)
    model.generation_config = _generation_config(languages)
    model.save_pretrained(hf_dir)
    # <|endoftext|> (bos/eos/unk) is added first, so it gets id 50257 and the specials follow in order.
    specials = ["<|startoftranscript|>", *(f"<|{code}|>" for code in languages), *_CONTROL]
    vocab, merges = _bpe_vocab_and_merges()
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges, additional_special_tokens=specials)
    if tokenizer.convert_tokens_to_ids("<|notimestamps|>") != 50363:
        raise RuntimeError("special token ids do not match Whisper's multilingual layout")
    tokenizer.save_pretrained(hf_dir)
    # preprocessor_config.json: the real 16 kHz, n_fft 400, hop 160, 30 s chunk settings; feature_size
    # must equal the model's mel bins (faster-whisper's default is 80; large-v3 folders ship 128 here).
    WhisperFeatureExtractor(feature_size=N_MELS).save_pretrained(hf_dir)


def write_tiny_faster_whisper(model_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny CTranslate2 Whisper folder to ``model_dir`` (replaced if present); return it.

    Mirrors how the Systran/faster-whisper-* folders were made: a Hugging Face
    ``WhisperForConditionalGeneration`` checkpoint (here transformers' default initialisation under
    ``torch.manual_seed(seed)``) converted by ``ctranslate2.converters.TransformersConverter`` to float16
    with ``tokenizer.json`` and ``preprocessor_config.json`` copied alongside; faster-whisper reads those
    two from the folder instead of fetching them from the hub. Nothing touches the network. Same seed ->
    byte-identical files.
    """
    hide_broken_torchaudio()
    import ctranslate2.converters
    from transformers.utils import logging as hf_logging

    model_dir = Path(model_dir)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers' "Writing model shards" / "Loading weights" bars
    try:
        with tempfile.TemporaryDirectory(prefix="tiny-whisper-hf-") as tmp:
            _write_hf_checkpoint(tmp, seed)
            converter = ctranslate2.converters.TransformersConverter(
                tmp, copy_files=["tokenizer.json", "preprocessor_config.json"]
            )
            # Real faster-whisper exports are float16; CTranslate2 casts to the compute_type when loading.
            converter.convert(str(model_dir), quantization="float16", force=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model_dir
