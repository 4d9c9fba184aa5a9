"""Settings for every pytest run, the notebooks' (nbval) included: their kernels inherit this environment."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# Tests and the notebooks' kernels run in quick mode (DIGITLAB_QUICK=0 forces full runs).
os.environ.setdefault("DIGITLAB_QUICK", "1")
