"""Per-site severity calibration: a scikit-learn model fitted on the site's labelled incident history."""
