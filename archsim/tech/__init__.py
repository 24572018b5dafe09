"""archsim.tech."""
