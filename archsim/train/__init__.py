"""Hardware-aware fine-tuning of any workload for any fabric (needs torch: ``[train]``).

* :mod:`archsim.train.model`: a workload as a torch network whose every op is computed by a
  hardware model's hooks (the float reference; the workload's quantizers);
* :mod:`archsim.train.sc`: the SC stream datapath's model (stream levels, APC pairing,
  stream noise, segment max pooling, Btanh gain and spread);
* :mod:`archsim.train.registry`: which model a fabric trains through (fabrics register);
* :mod:`archsim.train.calibrate`: the accelerator's real per-layer outputs, to measure the
  model's free parameters and to train later layers on (hardware in the loop);
* :mod:`archsim.train.finetune`: the one training entry point, ``archsim train``.

docs/training.md describes the method and the measured results.
"""
