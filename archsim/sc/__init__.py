"""archsim.sc."""
