"""Recording of the suite's topics into MCAP rosbag2 bags and offline replay of a recorded run.

:mod:`.bag_io` (no ROS) registers the vlash_msgs types with ``rosbags`` and writes/reads bags;
:mod:`.recorder_node` is the rclpy recorder; :mod:`.replay` feeds a bag to a policy open loop.
"""
