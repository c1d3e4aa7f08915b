"""Recognition across ageing: longitudinal evaluation, synthetic ageing, and the age adapter.

- `data`: dated face images (FG-NET's layout, or a user's CSV of file, person, age or date);
- `evaluate`: genuine pairs of one person at two ages, age-matched impostors, figures per
  enrollment-verification gap and age at enrollment;
- `synth`: a craniofacial growth model (cardioidal strain) on 68 landmarks that warps a face across
  ages, texture ageing, and the filter that drops unusable or identity-leaking samples;
- `adapter`: a light linear adapter over the shipped embeddings (trained in training/ageing/).
"""
