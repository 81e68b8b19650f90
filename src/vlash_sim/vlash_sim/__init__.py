"""Plain-Python simulated SO-101 arm for reaction-speed experiments (no ROS).

The whack-a-mole task mirrors the dynamic showcase of VLASH Sec. 5 (a fast-response game needing
quick detection and precise striking motions); :mod:`.simulated_loop` runs chunked policies
against it under the Kinetix protocol of VLASH Sec. 5.1.1 (inference delay ``Δ``, execution
horizon ``K``) in simulated time.
"""
