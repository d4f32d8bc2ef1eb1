"""The torchaudio workarounds (ltxvoice.models.torchaudio_shim) work together in one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchaudio_workarounds_agree_in_either_order() -> None:
    """hide_broken_torchaudio hides a broken torchaudio from transformers; ltx-core needs torchaudio's
    Python ops. Whichever runs first, both model layers work in one process."""
    use_ltx = ("from ltxvoice.models.torchaudio_shim import ensure_torchaudio_importable; ensure_torchaudio_importable(); "
               "import torch; from ltx_core.model.audio_vae import AudioProcessor; from ltx_core.types import Audio; "
               "assert AudioProcessor(16000, 64, 160, 1024).waveform_to_mel(Audio(torch.zeros(1, 2, 4800), 48000))"
               ".shape == (1, 2, 11, 64)")  # 0.1 s -> 1600 samples at 16 kHz -> 11 mel frames
    use_whisper = ("from ltxvoice.models.torchaudio_shim import hide_broken_torchaudio; hide_broken_torchaudio(); "
                   "import transformers")
    for first, second in ((use_whisper, use_ltx), (use_ltx, use_whisper)):
        done = subprocess.run([sys.executable, "-c", f"{first}\n{second}\nprint('ok')"], capture_output=True, text=True,
                              env={"PYTHONPATH": f"{ROOT / 'src'}", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
