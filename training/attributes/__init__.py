"""Training of the `attributes` analyzer (age, gender, ethnicity): data, splits, features, model, export."""
