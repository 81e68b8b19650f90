"""Drawing fewer faces changes what the camera sees by a hair and the physics not at all."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from vlash_sim.render_meshes import simplify_render_meshes
from vlash_sim.so101_env import CAMERA_NAME, RENDER_MESH_CELL_M, build_model

SIZE = 96


def _rollout(model: mujoco.MjModel, renderer: mujoco.Renderer) -> tuple[np.ndarray, list]:
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    frames = []
    for step in range(300):
        data.ctrl[:] = rng.uniform(model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1])
        mujoco.mj_step(model, data)
        if step % 60 == 59:
            renderer.update_scene(data, camera=CAMERA_NAME)
            frames.append(renderer.render().astype(np.float64))
    return data.qpos.copy(), frames


def test_physics_is_unchanged_and_frames_barely_differ():
    full = build_model(SIZE, render_mesh_cell_m=None)
    drawn = build_model(SIZE)
    assert drawn.mesh_facenum.sum() < full.mesh_facenum.sum() / 5
    with mujoco.Renderer(full, SIZE, SIZE) as a, mujoco.Renderer(drawn, SIZE, SIZE) as b:
        qpos_full, frames_full = _rollout(full, a)
        qpos_drawn, frames_drawn = _rollout(drawn, b)
    np.testing.assert_array_equal(qpos_drawn, qpos_full)
    differences = [np.abs(x - y).mean() for x, y in zip(frames_full, frames_drawn, strict=True)]
    # Well under one grey level per pixel on average (measured 0.15 at 2 mm).
    assert max(differences) < 1.0, differences
    assert max(differences) > 0.0  # the faces the camera draws did change


def test_faces_are_reindexed_to_existing_vertices_and_none_collapse():
    model = build_model(SIZE, render_mesh_cell_m=None)
    before, after = simplify_render_meshes(model, RENDER_MESH_CELL_M)
    assert before > after > 0
    for mesh in range(model.nmesh):
        count = model.mesh_facenum[mesh]
        faces = model.mesh_face[model.mesh_faceadr[mesh] : model.mesh_faceadr[mesh] + count]
        assert faces.min() >= 0 and faces.max() < model.mesh_vertnum[mesh]
        assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]))
        assert len(np.unique(np.sort(faces, axis=1), axis=0)) == count


def test_rejects_a_grid_without_size():
    with pytest.raises(ValueError, match="cell_m must be > 0"):
        simplify_render_meshes(build_model(SIZE, render_mesh_cell_m=None), 0.0)
