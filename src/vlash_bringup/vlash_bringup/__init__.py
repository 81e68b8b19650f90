"""Bring-up of the VLASH graph: launch files, configuration and the launcher without ros2 launch."""
