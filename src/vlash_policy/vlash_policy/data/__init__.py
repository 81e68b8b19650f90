"""Demonstration data for VLASH fine-tuning: episodes, dataset formats, normalisation, batching.

Nothing in this package imports ROS; :mod:`vlash_policy.data.convert_bag` reads recorded bags with
the pure-python ``rosbags`` library.
"""
