"""Code that several test modules share (no test module imports another).

- ``configs``: a recipe shrunk to two tiny iterations (``tiny_config``).
- ``tools``: the command-line tools run as subprocesses, MoCo v3's tiny
  config, exact comparison of checkpoints, a run stopped and resumed.
- ``loops``: a noisy dataset, a dropout model and its dataloaders.
- ``optimizers``: a two-part model for the parts optimizer constructor.
- ``dist``: gloo process groups (see the ``gloo`` fixture, conftest.py).
- ``losses``: how a test gives a loss its teacher temperature (one call
  site to adapt when schedules are passed in as arguments).
"""
