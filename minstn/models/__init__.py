"""The networks of the four experiments: `mnist` (experiments 1–3), `timeseries` (4)."""
from .mnist import (CNN, STCNN, classifier, classifier_params, localization_net, match_hidden,
                    matched_cnn)

__all__ = ["CNN", "STCNN", "classifier", "classifier_params", "localization_net",
           "match_hidden", "matched_cnn"]
from . import timeseries
from .timeseries import CNN1dClassifier, LSTMClassifier, STN1dClassifier

__all__ += ["timeseries", "CNN1dClassifier", "LSTMClassifier", "STN1dClassifier"]
