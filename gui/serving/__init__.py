"""The Serving tab: a load test of .tflite variants (`core.serving.study_serving`) with a live chart.

`settings` and `child_job` are Qt-free (`child_job` runs in the engine's child);
the rest are widgets and the controller that drives the engine.
"""
