"""Augmentations: rotation geometry (SO(3) and about gravity), padding left alone, shapes,
zeros past `length`, determinism per generator seed, permutation properties."""
import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import augmentations as A

T = 64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def imu_batch(seed=0, dtype=torch.float64):
    """Three samples, channels: device 0 acc 0-2, gyro 3-5; device 1 acc 6-8, gyro 9-11;
    channels 12-13 padding (non-zero junk, which must stay as it is).
    Sample 0: both devices. Sample 1: device 0 only (channels 6-11 padded too). Sample 2: both
    devices, triad rows in another order with a padding row in between.
    Returns x (B, T, 14), length (B,), triads (B, 5, 5), channel_mask (B, 14)."""
    g = gen(seed)
    B, C = 3, 14
    x = torch.randn(B, T, C, generator=g, dtype=dtype)
    x[:, :, [0, 1, 2, 6, 7, 8]] += torch.tensor([0.0, 0.0, 1.0, 0.6, 0.8, 0.0], dtype=dtype)  # gravity
    length = torch.tensor([T, 40, 51])
    x = x * (torch.arange(T)[None, :, None] < length[:, None, None])
    x[:, :, 12:] = 7.0                                                # padded channels: junk
    x[1, :, 6:] = 7.0
    pad = [-1] * 5
    triads = torch.tensor([
        [[0, 1, 2, 0, 0], [3, 4, 5, 0, 1], [6, 7, 8, 1, 0], [9, 10, 11, 1, 1], pad],
        [[0, 1, 2, 0, 0], [3, 4, 5, 0, 1], pad, pad, pad],
        [[9, 10, 11, 1, 1], [6, 7, 8, 1, 0], pad, [3, 4, 5, 0, 1], [0, 1, 2, 0, 0]],
    ])
    channel_mask = torch.ones(B, C, dtype=torch.bool)
    channel_mask[:, 12:] = False
    channel_mask[1, 6:] = False
    return x, length, triads, channel_mask


def triad(x, b, c0):
    return x[b, :, c0:c0 + 3]                                         # (T, 3)


def fit_rotation(before, after):
    """R with after = before @ R.T (least squares over time steps)."""
    return torch.linalg.lstsq(before, after).solution.T


# ------------------------------------------------------------------ rotation matrices

def test_random_rotation_is_special_orthogonal():
    R = A.random_rotation((500, 3), gen(0), 'cpu').double()
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    assert_close(R @ R.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    assert_close(torch.linalg.det(R), torch.ones(500, 3, dtype=R.dtype), atol=1e-5, rtol=0)


def test_random_rotation_is_spread_over_so3():
    """Uniform over SO(3): the rotated z axis is uniform on the sphere, so its mean is ~0 and the
    trace of R has mean 0 (E[1 + 2 cos(angle)] = 0 under the Haar measure)."""
    R = A.random_rotation((20000,), gen(1), 'cpu')
    assert R[:, :, 2].mean(0).abs().max() < 0.03
    assert abs(R.diagonal(dim1=-2, dim2=-1).sum(-1).mean().item()) < 0.05


def test_axis_rotation_keeps_axis_and_is_orthonormal():
    axis = torch.nn.functional.normalize(torch.randn(50, 3, generator=gen(2), dtype=torch.float64), dim=-1)
    angle = torch.rand(50, generator=gen(3), dtype=torch.float64) * 2 * math.pi
    R = A.axis_rotation(axis, angle)
    assert_close(R @ R.transpose(-1, -2), torch.eye(3, dtype=R.dtype).expand_as(R))
    assert_close(torch.linalg.det(R), torch.ones(50, dtype=R.dtype))
    assert_close((R @ axis[..., None])[..., 0], axis)
    cos = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    assert_close(cos, torch.cos(angle))


# ------------------------------------------------------------------ rotate

@pytest.mark.parametrize('mode', ['so3', 'gravity'])
def test_rotate_preserves_triad_norms_and_padding(mode):
    x, length, triads, channel_mask = imu_batch()
    y = A.rotate(x, length, triads, gen(5), mode)
    assert y.shape == x.shape and y.dtype == x.dtype
    for b in range(3):
        for row in triads[b]:
            if row[0] < 0:
                continue
            c0 = int(row[0])
            # (the matrices are drawn in float32, so float32 precision)
            assert_close(triad(y, b, c0).norm(dim=-1), triad(x, b, c0).norm(dim=-1), atol=1e-5, rtol=1e-5)
    assert torch.equal(y[:, :, 12:], x[:, :, 12:])                   # padded channels untouched
    assert torch.equal(y[1, :, 6:], x[1, :, 6:])
    past = (torch.arange(T)[None, :, None] >= length[:, None, None]) & channel_mask[:, None, :]
    assert torch.all(y[past] == 0)                                    # zeros past length stay zero


@pytest.mark.parametrize('mode', ['so3', 'gravity'])
def test_rotate_turns_a_device_as_one_body_and_devices_independently(mode):
    x, length, triads, _ = imu_batch()
    y = A.rotate(x, length, triads, gen(6), mode)
    for b in (0, 2):
        Rs = []
        for acc, gyro in ((0, 3), (6, 9)):
            n = int(length[b])
            R = fit_rotation(triad(x, b, acc)[:n], triad(y, b, acc)[:n])
            assert_close(R @ R.T, torch.eye(3, dtype=R.dtype), atol=1e-5, rtol=0)
            assert abs(torch.linalg.det(R).item() - 1) < 1e-5
            assert_close(triad(y, b, gyro), triad(x, b, gyro) @ R.T, atol=1e-5, rtol=1e-5)   # same matrix
            assert not torch.allclose(R, torch.eye(3, dtype=R.dtype), atol=1e-3)
            Rs.append(R)
        assert not torch.allclose(Rs[0], Rs[1], atol=1e-3)            # each device its own rotation


def test_rotate_samples_independently():
    x, length, triads, _ = imu_batch()
    x[2], length[2], triads[2] = x[0], length[0], triads[0]
    y = A.rotate(x, length, triads, gen(7), 'so3')
    R0 = fit_rotation(triad(x, 0, 0), triad(y, 0, 0))
    R2 = fit_rotation(triad(x, 2, 0), triad(y, 2, 0))
    assert not torch.allclose(R0, R2, atol=1e-3)


def test_rotate_gravity_keeps_gravity_component():
    x, length, triads, _ = imu_batch()
    y = A.rotate(x, length, triads, gen(8), 'gravity')
    for b in range(3):
        n = int(length[b])
        for row in triads[b]:
            if row[0] < 0 or row[4] != 0:                             # accelerometer triads
                continue
            acc, acc_y = triad(x, b, int(row[0]))[:n], triad(y, b, int(row[0]))[:n]
            axis = acc.mean(0) / acc.mean(0).norm()
            assert_close(acc_y @ axis, acc @ axis, atol=1e-5, rtol=1e-5)
            # the device's gyroscope turns about the same axis
            gyro = [int(r[0]) for r in triads[b] if r[0] >= 0 and r[3] == row[3] and r[4] == 1][0]
            assert_close(triad(y, b, gyro)[:n] @ axis, triad(x, b, gyro)[:n] @ axis, atol=1e-5, rtol=1e-5)
            assert not torch.allclose(acc_y, acc, atol=1e-3)          # but it did turn


def test_rotate_gravity_ignores_samples_past_length():
    x, length, triads, _ = imu_batch()
    x2 = x.clone()
    x2[1, 45:, :6] = 5.0                                              # length[1] = 40
    y, y2 = A.rotate(x, length, triads, gen(9), 'gravity'), A.rotate(x2, length, triads, gen(9), 'gravity')
    assert_close(y[1, :40], y2[1, :40])


def test_rotate_gravity_without_accelerometer_uses_so3():
    x, length, triads, _ = imu_batch()
    gyro_only = torch.tensor([[[3, 4, 5, 0, 1], [-1] * 5, [-1] * 5, [-1] * 5, [-1] * 5]] * 3)
    y = A.rotate(x, length, gyro_only, gen(10), 'gravity')
    for b in range(3):
        assert_close(triad(y, b, 3).norm(dim=-1), triad(x, b, 3).norm(dim=-1), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(triad(y, b, 3), triad(x, b, 3), atol=1e-3)
    assert torch.equal(y[..., :3], x[..., :3])                        # channels of no triad untouched


# ------------------------------------------------------------------ gravity frame

def test_gravity_frame_puts_gravity_on_z_and_turns_devices_rigidly():
    x, length, triads, channel_mask = imu_batch()
    y = A.gravity_frame(x, length, triads)
    before, after = A.mean_acceleration(x, length, triads), A.mean_acceleration(y, length, triads)
    for b in range(3):
        for dev in range(2 if b != 1 else 1):
            assert_close(after[b, dev], torch.tensor([0, 0, 1.0], dtype=x.dtype) * before[b, dev].norm(),
                         atol=1e-6, rtol=1e-6)
        # acc and gyro of one device turn by the same rotation
        acc = [int(r[0]) for r in triads[b] if r[0] >= 0 and r[3] == 0 and r[4] == 0][0]
        gyro = [int(r[0]) for r in triads[b] if r[0] >= 0 and r[3] == 0 and r[4] == 1][0]
        assert_close(fit_rotation(triad(x, b, acc), triad(y, b, acc)),
                     fit_rotation(triad(x, b, gyro), triad(y, b, gyro)), atol=1e-6, rtol=1e-6)
    assert torch.equal(y[~channel_mask[:, None, :].expand_as(y)], x[~channel_mask[:, None, :].expand_as(x)])


def test_gravity_frame_removes_device_orientation_up_to_heading():
    """Any rotation of the device changes nothing of what the frame shows along z."""
    x, length, triads, _ = imu_batch()
    z = [2, 5, 8, 11]                                                 # z of each triad
    ref = A.gravity_frame(x, length, triads)
    for seed in range(3):
        turned = A.gravity_frame(A.rotate(x, length, triads, gen(seed), 'so3'), length, triads)
        assert_close(turned[..., z], ref[..., z], atol=1e-5, rtol=1e-5)
        assert_close(turned[..., :12].reshape(3, T, 4, 3).norm(dim=-1), ref[..., :12].reshape(3, T, 4, 3).norm(dim=-1),
                     atol=1e-5, rtol=1e-5)


def test_gravity_frame_leaves_gravity_free_devices_and_handles_upside_down():
    x, length, triads, _ = imu_batch()
    x[0, :, 6:9] -= x[0, :int(length[0]), 6:9].mean(0)                # device 1 of sample 0: gravity removed
    x[2, :, 0:3] *= torch.tensor([1.0, 1.0, -1.0], dtype=x.dtype)    # device 0 of sample 2: gravity near -z
    x[2, :, 0:2] *= 1e-3
    y = A.gravity_frame(x, length, triads)
    assert torch.equal(y[0, :, 6:12], x[0, :, 6:12])
    assert A.mean_acceleration(y, length, triads)[2, 0, 2] > 0.5
    assert torch.isfinite(y).all()
    assert torch.equal(A.input_frame(x, length, triads, 'device'), x)
    assert torch.equal(A.input_frame(x, length, triads, 'gravity'), y)
    with pytest.raises(ValueError, match='input frame'):
        A.input_frame(x, length, triads, 'world')


# ------------------------------------------------------------------ invariant frame

def test_invariant_frame_is_unchanged_by_any_device_rotation_and_leaves_padding_alone():
    x, length, triads, channel_mask = imu_batch()
    ref = A.invariant_frame(x, length, triads, rate_hz=50.0)
    for seed in range(3):
        turned = A.invariant_frame(A.rotate(x, length, triads, gen(seed), 'so3'), length, triads, 50.0)
        assert_close(turned, ref, atol=1e-4, rtol=1e-4)               # arccos near 0 costs some precision
    pad = ~channel_mask[:, None, :].expand_as(x)
    assert torch.equal(ref[pad], x[pad])
    past = torch.arange(T)[None, :, None] >= length[:, None, None]
    assert (ref * (past & channel_mask[:, None, :])).abs().max() == 0  # zeros past `length`
    assert torch.equal(A.input_frame(x, length, triads, 'invariant', 50.0), ref)


def test_invariant_frame_channels_of_a_turning_and_a_tilting_device():
    """A still device turning about the vertical at 1 rad/s: acc (1, 0, 0); gyro (1, 0, heading
    = t). A device tilting by 90 degrees during the window: the acc tilt channel ends near pi/2."""
    rate, n = 50.0, 100
    t = torch.arange(n, dtype=torch.float64) / rate
    still = torch.zeros(1, n, 6, dtype=torch.float64)
    still[0, :, 2] = 1.0                                              # gravity on device z
    still[0, :, 5] = 1.0                                              # turn about it
    triads = torch.tensor([[[0, 1, 2, 0, 0], [3, 4, 5, 0, 1]]])
    y = A.invariant_frame(still, torch.tensor([n]), triads, rate)[0]
    assert_close(y[:, :3], torch.tensor([1.0, 0.0, 0.0], dtype=y.dtype).expand(n, 3), atol=1e-6, rtol=0)
    assert_close(y[:, 3], torch.ones(n, dtype=y.dtype))
    assert_close(y[:, 5], t + 1 / rate)                               # the integral up to and including sample t
    angle = (math.pi / 2) * (t / t[-1])                               # gravity from z to x over the window
    tilt = torch.zeros(1, n, 6, dtype=torch.float64)
    tilt[0, :, 0], tilt[0, :, 2] = torch.sin(angle), torch.cos(angle)
    y = A.invariant_frame(tilt, torch.tensor([n]), triads, rate, smooth_s=0.1)[0]
    assert abs(float(y[-1, 2]) - math.pi / 2) < 0.1 and abs(float(y[0, 2])) < 1e-6
    assert_close(y[:, 0], torch.ones(n, dtype=y.dtype), atol=1e-3, rtol=0)   # |a| = 1 g, all of it vertical


def test_invariant_frame_leaves_gravity_free_devices_as_recorded():
    x, length, triads, _ = imu_batch()
    x[0, :, 6:9] -= x[0, :int(length[0]), 6:9].mean(0)                # device 1 of sample 0: gravity removed
    y = A.invariant_frame(x, length, triads, 50.0)
    assert torch.equal(y[0, :, 6:12], x[0, :, 6:12])
    assert not torch.allclose(y[0, :, 0:6], x[0, :, 0:6])


def test_invariant_frame_refuses_rotation_augmentation():
    A.check_frame_rotation('invariant', 'none')
    A.check_frame_rotation('gravity', 'gravity')
    with pytest.raises(ValueError, match='--rotation=none'):
        A.check_frame_rotation('invariant', 'so3')


def test_hybrid_frame_is_the_recorded_channels_then_their_invariant_copies():
    x, length, triads, _ = imu_batch()
    C = x.shape[2]
    y = A.input_frame(x, length, triads, 'hybrid', 50.0)
    assert y.shape == (x.shape[0], T, 2 * C)
    assert torch.equal(y[..., :C], x)
    assert torch.equal(y[..., C:], A.invariant_frame(x, length, triads, 50.0))
    A.check_frame_rotation('hybrid', 'so3')                           # any rotation goes with it
    turned = A.rotate(y, length, triads, gen(0), 'so3')               # the triads index the recorded half
    assert torch.equal(turned[..., C:], y[..., C:])
    assert_close(turned[..., :C], A.rotate(x, length, triads, gen(0), 'so3'))
    assert_close(A.input_frame(turned[..., :C], length, triads, 'hybrid', 50.0)[..., C:], y[..., C:],
                 atol=1e-4, rtol=1e-4)                                # so rotating first gives the same


def test_rotate_none_and_bad_mode():
    x, length, triads, _ = imu_batch()
    assert torch.equal(A.rotate(x, length, triads, gen(0), 'none'), x)
    with pytest.raises(ValueError, match='rotation mode'):
        A.rotate(x, length, triads, gen(0), 'yaw')


def test_rotate_does_not_modify_input():
    x, length, triads, _ = imu_batch()
    x0 = x.clone()
    A.rotate(x, length, triads, gen(0), 'gravity')
    assert torch.equal(x, x0)


# ------------------------------------------------------------------ test-time rotation views

def test_rotation_views_so3_turn_every_window_by_the_same_rigid_rotations():
    x, length, triads, _ = imu_batch()
    v = A.rotation_views(x, length, triads, 4, 'so3')
    assert v.shape == (4, *x.shape) and torch.equal(v[0], x)
    rots = []
    for k in range(1, 4):
        assert torch.equal(v[k][..., 12:], x[..., 12:]) and torch.equal(v[k][1, :, 6:], x[1, :, 6:])   # padding
        R = fit_rotation(triad(x, 0, 0), triad(v[k], 0, 0))
        assert_close(R @ R.T, torch.eye(3, dtype=R.dtype), atol=1e-6, rtol=0)
        for b, c0 in [(0, 3), (0, 6), (0, 9), (1, 0), (2, 0), (2, 9)]:     # devices, sensors and windows alike
            assert_close(fit_rotation(triad(x, b, c0), triad(v[k], b, c0)), R, atol=1e-6, rtol=0)
        rots.append(R)
    assert not torch.allclose(rots[0], rots[1], atol=1e-2) and not torch.allclose(rots[0], torch.eye(3, dtype=R.dtype), atol=1e-2)
    assert_close(A.rotation_views(x[1:], length[1:], triads[1:], 4, 'so3'), v[:, 1:])  # not tied to the batch


def test_rotation_views_gravity_turn_about_each_devices_gravity_at_even_angles():
    x, length, triads, _ = imu_batch()
    v = A.rotation_views(x, length, triads, 4, 'gravity')
    assert torch.equal(v[0], x)
    for b in range(3):
        n = int(length[b])
        acc = triad(x, b, 0)[:n]
        axis = acc.mean(0) / acc.mean(0).norm()
        for k in range(1, 4):
            R = fit_rotation(triad(x, b, 0)[:n], triad(v[k], b, 0)[:n])
            assert_close(R @ axis, axis, atol=1e-6, rtol=0)                   # gravity stays where it was
            angle = torch.arccos(((torch.trace(R) - 1) / 2).clamp(-1, 1))
            assert float(angle) == pytest.approx(min(k, 4 - k) * math.pi / 2, abs=1e-5)
    with pytest.raises(ValueError, match="'so3' or 'gravity'"):
        A.rotation_views(x, length, triads, 4, 'none')


# ------------------------------------------------------------------ time and magnitude

def padded_signal(seed=0):
    g = gen(seed)
    length = torch.tensor([T, 37, 1, 50])
    x = torch.randn(4, T, 5, generator=g) * (torch.arange(T)[None, :, None] < length[:, None, None])
    return x, length


AUGS = {
    'jitter': lambda x, n, g: A.jitter(x, n, g, 0.05),
    'scale': lambda x, n, g: A.scale(x, g, 0.1),
    'time_shift': lambda x, n, g: A.time_shift(x, n, g, 0.25),
    'time_warp': lambda x, n, g: A.time_warp(x, n, g, 0.2),
    'magnitude_warp': lambda x, n, g: A.magnitude_warp(x, g, 0.2),
    'weak': lambda x, n, g: A.weak(x, n, g),
    'strong': lambda x, n, g: A.strong(x, n, g),
}


@pytest.mark.parametrize('name', list(AUGS))
def test_shape_padding_and_determinism(name):
    fn = AUGS[name]
    x, length = padded_signal()
    x0 = x.clone()
    y = fn(x, length, gen(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.equal(x, x0)                                         # input untouched
    past = torch.arange(T)[None, :] >= length[:, None]
    assert torch.all(y[past] == 0)
    assert torch.equal(fn(x, length, gen(1)), y)
    assert not torch.equal(fn(x, length, gen(2)), y)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize('name,fn', [
    ('jitter', lambda x, n, g: A.jitter(x, n, g, 0.0)),
    ('scale', lambda x, n, g: A.scale(x, g, 0.0)),
    ('time_shift', lambda x, n, g: A.time_shift(x, n, g, 0.0)),
    ('time_warp', lambda x, n, g: A.time_warp(x, n, g, 0.0)),
    ('magnitude_warp', lambda x, n, g: A.magnitude_warp(x, g, 0.0)),
])
def test_zero_strength_is_identity(name, fn):
    x, length = padded_signal(3)
    assert_close(fn(x, length, gen(0)), x, atol=1e-5, rtol=1e-5)


def test_time_shift_is_circular_shift_of_real_part():
    x, length = padded_signal(4)
    shifts_seen = set()
    for seed in range(5):
        y = A.time_shift(x, length, gen(seed), 0.25)
        for b in range(len(x)):
            n = int(length[b])
            matches = [k for k in range(n) if torch.equal(y[b, :n], torch.roll(x[b, :n], k, 0))]
            assert matches, (seed, b)
            k = min(matches, key=lambda k: min(k, n - k))
            assert min(k, n - k) <= 0.25 * n + 1
            shifts_seen.add((b, k))
            assert torch.equal(y[b, n:], x[b, n:])
    assert len(shifts_seen) > 5


def test_scale_is_constant_gain_per_channel():
    x, length = padded_signal(5)
    y = A.scale(x, gen(0), 0.1)
    gain = y[0] / x[0]                                                # sample 0 is fully real
    assert_close(gain, gain[:1].expand_as(gain), atol=1e-5, rtol=1e-5)


def test_time_warp_keeps_end_points_and_range():
    x, length = padded_signal(6)
    y = A.time_warp(x, length, gen(0), 0.3)
    for b in range(len(x)):
        n = int(length[b])
        assert_close(y[b, 0], x[b, 0])
        assert_close(y[b, n - 1], x[b, n - 1], atol=1e-4, rtol=1e-4)
        # interpolation between real samples never leaves their range
        assert torch.all(y[b, :n].max(0).values <= x[b, :n].max(0).values + 1e-5)
        assert torch.all(y[b, :n].min(0).values >= x[b, :n].min(0).values - 1e-5)


def test_magnitude_warp_is_smooth_positive_gain():
    x = torch.ones(200, T, 3)
    length = torch.full((200,), T)
    gain = A.magnitude_warp(x, gen(0), 0.2)
    assert abs(gain.mean().item() - 1) < 0.02
    assert (gain[:, 1:] - gain[:, :-1]).abs().max() < 0.2            # piecewise linear, 4 knots


# ------------------------------------------------------------------ channel shuffle

def test_channel_shuffle_permutes_real_channels_only():
    x, length, triads, channel_mask = imu_batch()
    y, perm = A.channel_shuffle(x, channel_mask, gen(0))
    assert y.shape == x.shape
    for b in range(3):
        real = torch.nonzero(channel_mask[b]).flatten()
        pad = torch.nonzero(~channel_mask[b]).flatten()
        assert sorted(perm[b, real].tolist()) == real.tolist()        # real positions get real channels
        assert sorted(perm[b, pad].tolist()) == pad.tolist()
        for j in range(x.shape[2]):
            assert torch.equal(y[b, :, j], x[b, :, perm[b, j]])
    assert any(not torch.equal(perm[b, :6], torch.arange(6)) for b in range(3))
    y2, perm2 = A.channel_shuffle(x, channel_mask, gen(0))
    assert torch.equal(y, y2) and torch.equal(perm, perm2)


# ------------------------------------------------------------------ random crop

def test_random_crop_keeps_a_contiguous_part_of_the_real_window():
    x, length = padded_signal(7)
    x = x + (torch.arange(T)[None, :, None] < length[:, None, None]) * 100.0   # no real sample is 0
    lengths_seen = set()
    for seed in range(20):
        y, new = A.random_crop(x, length, gen(seed), min_len=10, p=0.5)
        assert y.shape == x.shape
        for b in range(len(x)):
            n, m = int(length[b]), int(new[b])
            assert min(n, 10) <= m <= n                               # never longer, never below min_len
            starts = [k for k in range(n - m + 1) if torch.equal(y[b, :m], x[b, k:k + m])]
            assert starts, (seed, b)
            assert torch.all(y[b, m:] == 0)                            # the rest is padding
            lengths_seen.add((b, m))
    assert len(lengths_seen) > 8                                      # lengths vary
    assert {m for b, m in lengths_seen if b == 2} == {1}   # too short: kept


def test_random_crop_probability_and_determinism():
    x = torch.randn(2000, T, 2, generator=gen(8))
    length = torch.full((2000,), T)
    y, new = A.random_crop(x, length, gen(0), min_len=16, p=0.3)
    assert abs((new < T).float().mean().item() - 0.3) < 0.05          # ~p cropped (a crop may keep all: rare)
    assert torch.equal(y[new == T], x[new == T])                      # the others are untouched
    y2, new2 = A.random_crop(x, length, gen(0), min_len=16, p=0.3)
    assert torch.equal(y, y2) and torch.equal(new, new2)
    y0, new0 = A.random_crop(x, length, gen(0), min_len=16, p=0.0)
    assert torch.equal(y0, x) and torch.equal(new0, length)


# ------------------------------------------------------------------ time reversal

def imu_of_motion(R, p, dt):
    """Readings of a device with orientation R (N, 3, 3) (body to world) at position p (N, 3):
    specific force R^T (p'' + g) and body angular velocity (from R^T R'), both by central
    differences, for steps 1..N-2. -> (N-2, 6) [acc, gyro]"""
    g = torch.tensor([0.0, 0.0, 9.81], dtype=R.dtype)
    acc_w = (p[2:] - 2 * p[1:-1] + p[:-2]) / dt ** 2 + g
    W = R[1:-1].transpose(1, 2) @ (R[2:] - R[:-2]) / (2 * dt)          # ~ skew(omega)
    omega = torch.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], 1) / 2
    return torch.cat([torch.einsum('nji,nj->ni', R[1:-1], acc_w), omega], 1)


def test_time_reverse_gives_the_readings_of_the_motion_played_backwards():
    """A device that moves and turns along a path: the reversed readings of the motion are the
    readings of the reversed motion (specific force as it is, angular velocity negated)."""
    N, dt = 60, 0.02
    t = torch.arange(N, dtype=torch.float64) * dt
    p = torch.stack([0.3 * t ** 2, torch.sin(3 * t), 0.5 * torch.cos(2 * t)], 1)
    R = A.axis_rotation(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(N, 3), 2.0 * t) @ \
        A.axis_rotation(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).expand(N, 3), 0.7 * t ** 2)
    fwd, back = imu_of_motion(R, p, dt), imu_of_motion(R.flip(0), p.flip(0), dt)
    assert (fwd[:, 3:].abs() > 0.1).any()                             # it does turn
    x = torch.zeros(2, T, 8, dtype=torch.float64)
    x[:, :N - 2, :6] = fwd
    x[:, :, 6:] = 5.0                                                 # padding channels
    length = torch.tensor([N - 2, N - 2])
    channel_type = torch.tensor([[0, 0, 0, 1, 1, 1, 3, 3]] * 2)
    y = A.time_reverse(x, length, channel_type, torch.tensor([True, False]))
    assert_close(y[0, :N - 2, :6], back)
    assert torch.equal(y[0, N - 2:], x[0, N - 2:]) and torch.equal(y[:, :, 6:], x[:, :, 6:])   # padding untouched
    assert torch.equal(y[1], x[1])                                    # not flagged: unchanged
    assert torch.equal(A.time_reverse(y, length, channel_type, torch.tensor([True, False])), x)   # an involution


def test_time_reverse_negates_exactly_the_channels_the_layout_calls_gyroscopes():
    from datasets.loader import HARData, open_datasets
    data = HARData(open_datasets(['hapt'], root='/nonexistent', log=lambda *_: None), 4.0, 50.0)
    b = {k: torch.from_numpy(v) for k, v in data.read_batch('train', np.arange(4)).items()}
    y = A.time_reverse(b['x'], b['length'], b['channel_type'], torch.ones(4, dtype=torch.bool))
    T = int(b['length'][0])
    assert (b['length'] == T).all()
    back = b['x'].flip(1)[:, b['x'].shape[1] - T:]                     # the real part, backwards
    gyro = torch.tensor([c.sensor == 'gyro' for c in data.datasets[0].layouts[0]])
    assert gyro.sum() == 3
    assert torch.equal(y[:, :T, gyro], -back[..., gyro]) and torch.equal(y[:, :T, ~gyro], back[..., ~gyro])


def test_reversal_partners_pairs_transitions_by_name():
    names = ['walking', 'Stand to sit', 'sit to stand', 'sit to lie', 'walking upstairs', 'sitting down',
             'standing up', 'lying down']
    partner = A.reversal_partners(names)
    assert partner == [-1, 2, 1, -1, -1, 6, 5, -1]     # 'lie to sit', 'getting up' absent: no partner


def test_reverse_partnered_flips_only_partnered_classes_and_relabels_them():
    B = 4000
    x = torch.randn(B, T, 2, generator=gen(3))
    length = torch.full((B,), T)
    channel_type = torch.tensor([[0, 1]] * B)
    labels = torch.arange(B) % 3                                      # classes 0 and 1 are partners, 2 has none
    partner = torch.tensor([1, 0, -1])
    y, new = A.reverse_partnered(x, length, channel_type, labels, partner, gen(0), p=0.4)
    flipped = new != labels
    assert not flipped[labels == 2].any() and torch.equal(new[flipped], partner[labels[flipped]])
    assert abs(flipped[labels < 2].float().mean().item() - 0.4) < 0.04
    assert torch.equal(y[~flipped], x[~flipped])
    assert torch.equal(y[flipped], A.time_reverse(x, length, channel_type, flipped)[flipped])
    y2, new2 = A.reverse_partnered(x, length, channel_type, labels, partner, gen(0), p=0.4)
    assert torch.equal(y, y2) and torch.equal(new, new2)


# ------------------------------------------------------------------ how else it could be recorded

def recorded_batch(B=3, T=200, rate=50.0):
    """Phone windows in model units: accelerometer (g) still with gravity along z plus a 2 Hz and a
    15 Hz wiggle on x, gyroscope a 1 Hz turn; window 2 is only 120 samples long."""
    t = torch.arange(T) / rate
    acc = torch.stack([0.3 * torch.sin(2 * math.pi * 2 * t) + 0.2 * torch.sin(2 * math.pi * 15 * t),
                       torch.zeros(T), torch.ones(T)], -1)
    gyro = torch.stack([torch.zeros(T), torch.zeros(T), 0.5 * torch.sin(2 * math.pi * 1 * t)], -1)
    x = torch.cat([acc, gyro], -1)[None].repeat(B, 1, 1)
    length = torch.tensor([T, T, 120])[:B]
    x = x * (torch.arange(T)[None, :, None] < length[:, None, None])
    return x, length, torch.ones(B, 6, dtype=torch.bool), torch.tensor([0, 0, 0, 1, 1, 1]).repeat(B, 1)


def test_accelerometer_only_removes_every_other_sensor_of_the_flagged_windows():
    x, length, mask, types = recorded_batch()
    mask[1, 3:] = False                                              # window 1: an accelerometer-only device already
    flag = torch.tensor([True, True, False])
    y, m, t = A.accelerometer_only(x, mask, types, flag)
    assert torch.equal(m[0], torch.tensor([True] * 3 + [False] * 3)) and (t[0, 3:] == A.PAD_TYPE).all()
    assert (y[0, :, 3:] == 0).all() and torch.equal(y[0, :, :3], x[0, :, :3])
    assert torch.equal(y[2], x[2]) and torch.equal(m[2], mask[2]) and torch.equal(t[2], types[2])   # not flagged
    gyro_only = torch.tensor([[1, 1, 1, 1, 1, 1]])
    assert torch.equal(A.accelerometer_only(x[:1], mask[:1], gyro_only, flag[:1])[1], mask[:1])    # nothing left


def test_gravity_removal_leaves_a_still_window_near_zero_and_the_rest_alone():
    T = 200
    still = torch.cat([torch.tensor([0.1, -0.2, 0.97]).expand(T, 3), torch.zeros(T, 3)], -1)[None]
    types = torch.tensor([[0, 0, 0, 1, 1, 1]])
    y = A.remove_gravity(still, torch.tensor([T]), types, torch.tensor([True]), 50.0)
    assert y.abs().max() < 1e-5
    x, length, _, types = recorded_batch()
    y = A.remove_gravity(x, length, types.expand(3, 6), torch.tensor([True, False, True]), 50.0)
    assert torch.equal(y[1], x[1]) and torch.equal(y[:, :, 3:], x[:, :, 3:])          # unflagged; gyroscope kept
    assert y[0, :, 2].abs().mean() < 0.05 and (y[2, 120:] == 0).all()                  # gravity gone; padding zero
    assert (y[0, 50:150, 0] - x[0, 50:150, 0]).abs().max() < 0.05                        # the movement stays


def test_band_limit_leaves_no_energy_above_the_new_nyquist():
    x, length, _, _ = recorded_batch()
    y = A.band_limit(x, length, 50.0, torch.tensor([10.0, 50.0, 10.0]))
    spectrum = torch.fft.rfft(y[0], dim=0).abs()                        # a full-length window
    freqs = torch.fft.rfftfreq(200, d=1 / 50.0)
    assert spectrum[freqs > 5.0].max() < 1e-3 * spectrum.max()
    kept = torch.fft.rfft(x[0], dim=0).abs()
    assert torch.allclose(spectrum[freqs == 2.0], kept[freqs == 2.0], rtol=1e-3, atol=1e-4)   # below: untouched
    assert torch.allclose(y[1], x[1], atol=1e-5)                         # 50 Hz: nothing to remove
    assert (y[2, 120:] == 0).all()


def test_recording_conditions_at_zero_draw_nothing_and_at_one_apply_all():
    x, length, mask, types = recorded_batch()
    g = torch.Generator().manual_seed(0)
    out = A.recording_conditions(x, length, mask, types, g, 50.0)
    assert torch.equal(out[0], x) and not out[3].any()
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(0).get_state())      # the RNG stream is untouched
    y, m, t, no_gravity = A.recording_conditions(x, length, mask, types, g, 50.0, 1.0, 1.0, 1.0, 10.0)
    assert not m[:, 3:].any() and no_gravity.all() and y[0, :, 2].abs().mean() < 0.05


def test_gravity_removed_windows_are_described_as_such():
    from datasets.loader import HARData, open_datasets
    data = HARData(open_datasets(['hapt'], root='/nonexistent', log=lambda *_: None), 4.0, 50.0)
    for i, text in enumerate(data.channel_texts):
        other = data.channel_texts[data.gravity_removed_text[i]]
        if 'gravity included' in text:
            assert other == text.replace('gravity included', 'gravity removed')
        else:
            assert other == text
