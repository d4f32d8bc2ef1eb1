"""Signal processing used by the stages: pitch and formant measurement, pitch shifting, tone synthesis.

Pure functions over numpy arrays (mono float, a sample rate); no files, no stage logic."""
