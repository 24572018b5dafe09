"""archsim.nn."""
