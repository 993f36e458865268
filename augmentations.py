"""Augmentations for IMU windows: small pure functions, vectorised over the batch.

All take x: (B, T, C) (model units) and a torch.Generator `g` on x's device, and return a new
tensor; the same generator state gives the same output. `length` (B,) is the number of real
samples per window: samples past it stay zero.

Weak: jitter, scale, time_shift (shared by both views). Strong: time_warp, magnitude_warp.
Length: random_crop (a random shorter part of the window, so that window length tells nothing).
Recording: accelerometer_only, remove_gravity, band_limit (and recording_conditions drawing them),
the ways other devices record the same movement (and the conditions evaluate.py scores under).
Time: time_reverse (the motion played backwards, for classes whose reverse is another class:
stand to sit <-> sit to stand; reversal_partners finds the pairs from the label names).
Geometric: rotation of each device's sensor triads (accelerometer, gyroscope and magnetometer
of one device turn together), either uniform over SO(3) or about the window's own gravity
direction (which keeps the gravity component, and with it the sitting / standing / lying cue,
unchanged). Not augmentations but built from the same pieces, the input frames
(EncoderConfig.input_frame): gravity_frame, the deterministic turn of each device into a frame
whose z axis is vertical, invariant_frame, channels that no device orientation changes, and
the hybrid of the device frame and invariant_frame side by side.
"""
import math

import torch

from datasets.format import ACC_TYPE, GYRO_TYPE, PAD_TYPE, SENSOR_TYPES, Triad


def _time_valid(x, length):
    """(B, T, 1) float mask of real samples."""
    return (torch.arange(x.shape[1], device=x.device)[None, :, None] < length[:, None, None]).to(x.dtype)


def jitter(x, length, g, sigma=0.05):
    return x + sigma * torch.randn(x.shape, generator=g, device=x.device) * _time_valid(x, length)


def scale(x, g, sigma=0.1):
    """Per-sample, per-channel gain 1 + N(0, sigma)."""
    return x * (1 + sigma * torch.randn((x.shape[0], 1, x.shape[2]), generator=g, device=x.device))


def time_shift(x, length, g, max_frac=0.25):
    """Circular shift of the real part of each window by up to max_frac of its length."""
    B, T, C = x.shape
    frac = (torch.rand(B, generator=g, device=x.device) * 2 - 1) * max_frac
    k = (frac * length).long()                                          # (B,)
    t = torch.arange(T, device=x.device)[None, :]
    src = torch.remainder(t - k[:, None], length.clamp(min=1)[:, None])  # (B, T)
    src = torch.where(t < length[:, None], src, t)
    return torch.gather(x, 1, src[:, :, None].expand(B, T, C))


def random_crop(x, length, g, min_len, p=0.5):
    """With probability p per sample, keep a random contiguous part of the real window, of
    uniform length in [min_len, length], moved to the start; the rest becomes padding.
    Teaches the model that a short window is not a sign of any class (in a dataset of
    continuous sessions only transitions give short windows; in others every window is short).
    x (B, T, C), length (B,) -> x (B, T, C), new length (B,)"""
    B, T, C = x.shape
    u, v, w = torch.rand((3, B), generator=g, device=x.device)
    lo = torch.clamp(length, max=min_len)                               # windows shorter than min_len stay
    new = torch.where(u < p, lo + (v * (length - lo + 1)).long().clamp(max=length - lo), length)
    start = (w * (length - new + 1)).long().clamp(max=length - new)     # (B,)
    t = torch.arange(T, device=x.device)[None, :]
    src = (start[:, None] + t).clamp(max=T - 1)                         # (B, T)
    out = torch.gather(x, 1, src[:, :, None].expand(B, T, C))
    return out * (t < new[:, None])[:, :, None].to(x.dtype), new


# ------------------------------------------------------------------------- how else it could be recorded

def accelerometer_only(x, channel_mask, channel_type, flag):
    """The flagged windows as an accelerometer-only device would record them: every other sensor
    (gyroscope, magnetometer) removed as if never recorded, i.e. zeroed, masked out and typed as
    padding. A window without an accelerometer keeps what it has.
    x (B, T, C), channel_mask (B, C), channel_type (B, C), flag (B,) bool -> x, channel_mask, channel_type"""
    has_acc = ((channel_type == ACC_TYPE) & channel_mask).any(1)                        # (B,)
    gone = (flag & has_acc)[:, None] & channel_mask & (channel_type != ACC_TYPE)         # (B, C)
    return (x * ~gone[:, None, :], channel_mask & ~gone,
            torch.where(gone, torch.full_like(channel_type, PAD_TYPE), channel_type))


def remove_gravity(x, length, channel_type, flag, rate_hz, cutoff_hz=0.3):
    """The flagged windows' accelerometers with gravity removed, as phones' "linear acceleration"
    and some loggers deliver them: a low-pass estimate, the centred mean over 1 / cutoff_hz
    seconds of the real samples, is subtracted (a still device then reads about 0; the part of
    a turn's gravity change faster than the cutoff stays, as it does in a fusion estimate).
    x (B, T, C) model units, length (B,), channel_type (B, C), flag (B,) bool -> (B, T, C)"""
    valid = _time_valid(x, length)                                                     # (B, T, 1)
    low = _centred_mean(x, valid[..., 0], max(int(round(rate_hz / cutoff_hz / 2)), 1))   # (B, T, C)
    acc = flag[:, None, None] & (channel_type == ACC_TYPE)[:, None, :]                # (B, 1, C)
    return torch.where(acc, (x - low) * valid, x)


def band_limit(x, length, rate_hz, new_rate_hz):
    """What a recording made at a lower rate looks like once resampled to rate_hz (as the
    converters do, anti-aliased): nothing above new_rate_hz / 2. Brick-wall low-pass of each
    window's real part (the samples past `length` held at the last real value, so that the end of
    the window does not ring), then zero past `length` again. new_rate_hz >= rate_hz: unchanged.
    x (B, T, C), length (B,), new_rate_hz (B,) float -> (B, T, C)"""
    B, T, C = x.shape
    t = torch.arange(T, device=x.device)[None, :]
    held = torch.gather(x, 1, torch.minimum(t, (length[:, None] - 1).clamp(min=0))[..., None].expand(B, T, C))
    spectrum = torch.fft.rfft(held.float(), dim=1)                                      # (B, F, C)
    freqs = torch.fft.rfftfreq(T, d=1.0 / rate_hz).to(x.device)                         # (F,)
    keep = freqs[None, :] <= new_rate_hz.to(x.device, torch.float32)[:, None] / 2        # (B, F)
    y = torch.fft.irfft(spectrum * keep[..., None], n=T, dim=1).to(x.dtype)
    return y * _time_valid(x, length)


def recording_conditions(x, length, channel_mask, channel_type, g, rate_hz, acc_only_p=0.0, gravity_p=0.0,
                         low_rate_p=0.0, min_rate_hz=10.0):
    """Training for data recorded every which way: with probability acc_only_p a window keeps
    only its accelerometers, with gravity_p its accelerometers lose gravity, with low_rate_p it is
    band-limited to a rate drawn uniformly in [min_rate_hz, rate_hz). A probability of 0 draws
    nothing from `g`. -> x (B, T, C), channel_mask (B, C), channel_type (B, C), gravity removed (B,)"""
    B = x.shape[0]
    no_gravity = torch.zeros(B, dtype=torch.bool, device=x.device)
    if acc_only_p > 0:
        flag = torch.rand(B, generator=g, device=x.device) < acc_only_p
        x, channel_mask, channel_type = accelerometer_only(x, channel_mask, channel_type, flag)
    if gravity_p > 0:
        no_gravity = torch.rand(B, generator=g, device=x.device) < gravity_p
        x = remove_gravity(x, length, channel_type, no_gravity, rate_hz)
    if low_rate_p > 0:
        u, v = torch.rand((2, B), generator=g, device=x.device)
        new_rate = torch.where(u < low_rate_p, min_rate_hz + v * (rate_hz - min_rate_hz), torch.full_like(v, rate_hz))
        x = band_limit(x, length, rate_hz, new_rate)
    return x, channel_mask, channel_type, no_gravity


CONDITIONS = ('as recorded', 'accelerometer only', 'gravity removed', '25 Hz', '10 Hz', '2 s windows', '1 s windows')


def condition(name, rate_hz, gravity_removed_text=None):
    """The batch transform of one evaluation condition, imitating another way of recording the
    same windows after conversion: `accelerometer only` (accelerometer_only), `gravity removed`
    (remove_gravity; the channel texts then say so, via the loader's gravity_removed_text),
    `N Hz` (band_limit to N Hz), `N s windows` (each window's real part cut to its first N s).
    None where it does not apply: a rate at or above the model's rate_hz.
    -> function(batch dict of tensors) -> batch dict, or None"""
    if name == 'as recorded':
        return lambda b: b
    if name == 'accelerometer only':
        def acc_only(b):
            x, mask, types = accelerometer_only(b['x'], b['channel_mask'], b['channel_type'],
                                                torch.ones(len(b['x']), dtype=torch.bool, device=b['x'].device))
            return dict(b, x=x, channel_mask=mask, channel_type=types)
        return acc_only
    if name == 'gravity removed':
        def no_gravity(b):
            flag = torch.ones(len(b['x']), dtype=torch.bool, device=b['x'].device)
            out = dict(b, x=remove_gravity(b['x'], b['length'], b['channel_type'], flag, rate_hz))
            if gravity_removed_text is not None and 'channel_text' in b:
                out['channel_text'] = gravity_removed_text.to(b['channel_text'].device)[b['channel_text']]
            return out
        return no_gravity
    number, unit = name.split(' ', 1)
    if unit == 'Hz':
        if float(number) >= rate_hz:
            return None
        return lambda b: dict(b, x=band_limit(b['x'], b['length'], rate_hz, torch.full((len(b['x']),), float(number))))
    if unit == 's windows':
        def cut(b):
            length = b['length'].clamp(max=int(round(float(number) * rate_hz)))
            return dict(b, x=b['x'] * _time_valid(b['x'], length), length=length)
        return cut
    raise ValueError(f'unknown condition {name!r}; choose from {CONDITIONS}')


def _smooth_curve(shape_bk, T, g, device, sigma):
    """Random curve through K knots ~ 1 + N(0, sigma), linearly interpolated to T points.
    shape_bk: (B, K[, C]) -> (B, T[, C])"""
    knots = 1 + sigma * torch.randn(shape_bk, generator=g, device=device)
    K = shape_bk[1]
    pos = torch.linspace(0, K - 1, T, device=device)
    lo = pos.floor().long().clamp(max=K - 2)
    w = (pos - lo).view(1, T, *([1] * (len(shape_bk) - 2)))
    return knots[:, lo] * (1 - w) + knots[:, lo + 1] * w


def time_warp(x, length, g, sigma=0.2, knots=4):
    """Smoothly speed up and slow down time within each window's real part."""
    B, T, C = x.shape
    speed = _smooth_curve((B, knots), T, g, x.device, sigma).clamp(min=0.2)      # (B, T)
    speed = speed * _time_valid(x, length)[..., 0]
    cum = torch.cumsum(speed, 1)
    pos = (cum - cum[:, :1]) / (cum[:, -1:] - cum[:, :1]).clamp(min=1e-6) * (length[:, None] - 1).clamp(min=0)
    lo = pos.floor().long().clamp(0, T - 1)
    hi = (lo + 1).minimum((length[:, None] - 1).clamp(min=0))
    w = (pos - lo).unsqueeze(-1)
    out = torch.gather(x, 1, lo[..., None].expand(B, T, C)) * (1 - w) + \
        torch.gather(x, 1, hi[..., None].expand(B, T, C)) * w
    return out * _time_valid(x, length)


def magnitude_warp(x, g, sigma=0.2, knots=4):
    """Multiply each channel by a smooth random curve around 1."""
    B, T, C = x.shape
    return x * _smooth_curve((B, knots, C), T, g, x.device, sigma)


# ------------------------------------------------------------------------- rotation

def random_rotation(shape, g, device):
    """Uniform random rotations from unit quaternions. shape (..,) -> (.., 3, 3), det +1"""
    q = torch.randn((*shape, 4), generator=g, device=device)
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    R = torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                     2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                     2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)
    return R.view(*shape, 3, 3)


def axis_rotation(axis, angle):
    """Rotation by `angle` about unit `axis` (Rodrigues). axis (.., 3), angle (..) -> (.., 3, 3)"""
    kx, ky, kz = axis.unbind(-1)
    zero = torch.zeros_like(kx)
    Kx = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).view(*axis.shape[:-1], 3, 3)
    eye = torch.eye(3, device=axis.device, dtype=axis.dtype).expand_as(Kx)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    return eye + s * Kx + (1 - c) * (Kx @ Kx)


def _gather_triads(x, triads):
    """x (B, T, C), triads (B, G, 5) [cx, cy, cz, device, sensor] (-1 pad)
    -> (B, T, G, 3) (zeros for padding triads), ok (B, G), flat channel index (B, G*3)
    where padding triads point at an extra scratch channel C."""
    B, T, C = x.shape
    ok = triads[..., Triad.X] >= 0
    axes = triads[..., Triad.AXES]
    idx = torch.where(ok[..., None], axes, torch.full_like(axes, C)).reshape(B, -1)
    x_ext = torch.cat([x, x.new_zeros(B, T, 1)], 2)
    tri = torch.gather(x_ext, 2, idx[:, None, :].expand(B, T, idx.shape[1]))
    return tri.view(B, T, -1, 3), ok, idx


def mean_acceleration(x, length, triads):
    """Per device, its accelerometer's mean over the real window (model units, g).
    -> (B, D, 3) with D = max devices; zero where a device has no accelerometer."""
    tri, ok, _ = _gather_triads(x, triads)                               # (B, T, G, 3)
    mean = (tri * _time_valid(x, length)[..., None]).sum(1) / length.clamp(min=1)[:, None, None]  # (B, G, 3)
    is_acc = ok & (triads[..., Triad.SENSOR] == ACC_TYPE)
    dev = triads[..., Triad.DEVICE].clamp(min=0)
    D = int(triads.shape[1])
    out = torch.zeros((x.shape[0], D, 3), device=x.device, dtype=x.dtype)
    return out.scatter_add_(1, dev[..., None].expand(-1, -1, 3), mean * is_acc[..., None])


def gravity_axes(x, length, triads):
    """Per device, the unit direction of its accelerometer's mean over the real window.
    -> (B, D, 3) with D = max devices; zero where a device has no accelerometer."""
    axes = mean_acceleration(x, length, triads)
    return axes / axes.norm(dim=-1, keepdim=True).clamp(min=1e-6)


def gravity_frame(x, length, triads, min_g=0.5):
    """Turn each device's triads (acc, gyro, mag together) by the smallest rotation that takes
    its gravity direction (the accelerometer's mean over the real window) onto +z. How the
    device was held then no longer matters, except for its heading (a turn about z, which
    ROTATION='gravity' randomises in training): z is vertical, so the z gyroscope is the turn
    rate about the vertical. Deterministic; used alike in training and evaluation.
    A device without an accelerometer, or whose mean acceleration is below `min_g` (gravity
    removed at the source), is left in its own frame.
    x (B, T, C) in model units (acc in g), length (B,), triads (B, G, 5) -> (B, T, C)"""
    m = mean_acceleration(x, length, triads)                             # (B, D, 3)
    n = m.norm(dim=-1)
    u = m / n.clamp(min=1e-6)[..., None]
    z = torch.zeros_like(u)
    z[..., 2] = 1.0
    axis = torch.cross(u, z, dim=-1)
    s, c = axis.norm(dim=-1), u[..., 2]
    x_axis = torch.zeros_like(u)
    x_axis[..., 0] = 1.0
    axis = torch.where((s > 1e-6)[..., None], axis / s.clamp(min=1e-6)[..., None], x_axis)   # parallel: about x
    R = axis_rotation(axis, torch.atan2(s, c))                          # (B, D, 3, 3)
    R = torch.where((n >= min_g)[..., None, None], R, torch.eye(3, device=x.device, dtype=x.dtype).expand_as(R))
    return rotate_triads(x, triads, R)


def _centred_mean(v, valid, half):
    """Mean of v over samples t-half .. t+half, real samples only.
    v (B, T, ...), valid (B, T) float -> (B, T, ...)"""
    B, T = valid.shape
    shape = (B, T + 1, *([1] * (v.dim() - 2)))
    w = valid.view(B, T, *([1] * (v.dim() - 2)))
    cv = torch.cat([v.new_zeros((B, 1, *v.shape[2:])), torch.cumsum(v * w, 1)], 1)   # (B, T+1, ...)
    cw = torch.cat([valid.new_zeros(B, 1), torch.cumsum(valid, 1)], 1).view(shape)
    t = torch.arange(T, device=v.device)
    lo, hi = (t - half).clamp(min=0), (t + half + 1).clamp(max=T)
    return (cv[:, hi] - cv[:, lo]) / (cw[:, hi] - cw[:, lo]).clamp(min=1)


def invariant_frame(x, length, triads, rate_hz, smooth_s=0.5, min_g=0.5):
    """Orientation-invariant channels (the vertical / horizontal split of Mizell 2003, with a
    gravity estimate that follows the device through the window). Per device, gravity u(t) is
    the direction of its accelerometer's centred mean over `smooth_s`; every triad v(t) of
    that device becomes
        (v . u,  |v - (v . u) u|,  c(t))
    with c the tilt since the window's first sample, arccos(u(t) . u(0)), for the
    accelerometer; the heading change since the first sample, the integral of the vertical
    turn rate, for the gyroscope; 0 for the magnetometer. Every channel is unchanged by any
    fixed rotation of the device, so no rotation augmentation is needed (or meaningful), and
    unlike gravity_frame it still holds when the device turns within the window (a phone in
    a trouser pocket during sitting down). A device without an accelerometer, or whose mean
    acceleration is below `min_g` (gravity removed at the source), is left in its own frame.
    x (B, T, C) in model units (acc in g, gyro rad/s), length (B,), triads (B, G, 5) -> (B, T, C)"""
    B, T, C = x.shape
    tri, ok, idx = _gather_triads(x, triads)                              # (B, T, G, 3)
    valid = _time_valid(x, length)[..., 0]                                # (B, T)
    is_acc = ok & (triads[..., Triad.SENSOR] == ACC_TYPE)
    dev = triads[..., Triad.DEVICE].clamp(min=0)                          # (B, G)
    D = int(triads.shape[1])
    acc = torch.zeros((B, T, D, 3), device=x.device, dtype=x.dtype)
    acc = acc.scatter_add(2, dev[:, None, :, None].expand(B, T, -1, 3), tri * is_acc[:, None, :, None])
    grav = _centred_mean(acc, valid, max(int(round(smooth_s * rate_hz)) // 2, 0))   # (B, T, D, 3)
    u = grav / grav.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    u = torch.gather(u, 2, dev[:, None, :, None].expand(B, T, -1, 3))     # (B, T, G, 3) each triad's device
    vert = (tri * u).sum(-1)                                              # (B, T, G)
    horiz = (tri - vert[..., None] * u).norm(dim=-1)
    tilt = torch.arccos((u * u[:, :1]).sum(-1).clamp(-1.0, 1.0))
    heading = torch.cumsum(vert * valid[..., None], 1) / rate_hz
    sensor = triads[..., Triad.SENSOR][:, None, :]                        # (B, 1, G)
    third = torch.where(sensor == ACC_TYPE, tilt, torch.where(sensor == GYRO_TYPE, heading, torch.zeros_like(tilt)))
    inv = torch.stack([vert, horiz, third], -1) * valid[..., None, None]  # (B, T, G, 3)
    has_g = torch.gather(mean_acceleration(x, length, triads).norm(dim=-1) >= min_g, 1, dev)   # (B, G)
    out = torch.where(has_g[:, None, :, None], inv, tri).reshape(B, T, -1)
    x_ext = torch.cat([x, x.new_zeros(B, T, 1)], 2)
    return x_ext.scatter(2, idx[:, None, :].expand(B, T, idx.shape[1]), out)[..., :C]


INPUT_FRAMES = ('device', 'gravity', 'invariant', 'hybrid')


def check_frame_rotation(frame, rotation):
    """Raise ValueError for a frame and rotation augmentation that do not go together: the
    invariant frame is computed before rotation, which would mix its channels. (The hybrid
    frame takes any rotation: it turns only the device half, the other half is invariant.)"""
    if frame == 'invariant' and rotation != 'none':
        raise ValueError(f"input frame 'invariant' is already orientation-invariant; rotating its channels "
                         f"(--rotation={rotation}) would mix them: pass --rotation=none")


def input_frame(x, length, triads, frame='device', rate_hz=50.0):
    """The frame the encoder sees: 'device' (as recorded), 'gravity' (gravity_frame),
    'invariant' (invariant_frame, which needs the sampling rate) or 'hybrid': the recorded
    channels followed by their invariant_frame copies, so (B, T, C) -> (B, T, 2C). The triads
    still index the first C channels, so a rotation applied afterwards turns only the device
    half, which is what the SO(3) augmentation of the hybrid frame wants; frame_channels
    gives the matching channel metadata."""
    if frame not in INPUT_FRAMES:
        raise ValueError(f"input frame must be one of {INPUT_FRAMES}, got {frame!r}")
    if frame == 'gravity':
        return gravity_frame(x, length, triads)
    if frame == 'hybrid':
        return torch.cat([x, invariant_frame(x, length, triads, rate_hz)], 2)
    return invariant_frame(x, length, triads, rate_hz) if frame == 'invariant' else x


N_CHANNEL_TYPES = PAD_TYPE + 1            # channel-type embeddings: the sensor types and padding
HYBRID_TYPE_OFFSET = N_CHANNEL_TYPES      # hybrid frame: the invariant copy of type t has type t + 4


def n_channel_types(frame):
    """Rows of the encoder's channel-type embedding for an input frame: the hybrid frame adds one
    per sensor type (its invariant copies)."""
    return N_CHANNEL_TYPES + (len(SENSOR_TYPES) if frame == 'hybrid' else 0)


def frame_channels(frame, channel_mask, channel_type, channel_text=None):
    """Channel metadata for input_frame's output. The hybrid frame appends an invariant copy of
    every channel: the same mask and channel text, and a type of its own (sensor type +
    HYBRID_TYPE_OFFSET; padding stays PAD_TYPE). Other frames: unchanged.
    (B, C) each -> (B, C') each; channel_text may be None."""
    if frame != 'hybrid':
        return channel_mask, channel_type, channel_text
    inv_type = torch.where(channel_type == PAD_TYPE, channel_type, channel_type + HYBRID_TYPE_OFFSET)
    text = None if channel_text is None else torch.cat([channel_text, channel_text], 1)
    return torch.cat([channel_mask, channel_mask], 1), torch.cat([channel_type, inv_type], 1), text


def rotate_triads(x, triads, R):
    """Apply rotation R[b, device] to every triad of that device.
    x (B, T, C), triads (B, G, 5), R (B, D, 3, 3) -> (B, T, C)"""
    B, T, C = x.shape
    tri, ok, idx = _gather_triads(x, triads)
    Rg = torch.gather(R, 1, triads[..., Triad.DEVICE].clamp(min=0)[..., None, None].expand(-1, -1, 3, 3))  # (B, G, 3, 3)
    rot = torch.einsum('bgij,btgj->btgi', Rg, tri).reshape(B, T, -1)    # (B, T, G*3)
    x_ext = torch.cat([x, x.new_zeros(B, T, 1)], 2)
    return x_ext.scatter(2, idx[:, None, :].expand(B, T, idx.shape[1]), rot)[..., :C]


def rotate(x, length, triads, g, mode='so3'):
    """Random rotation per (sample, device). mode 'so3': uniform over SO(3); 'gravity': about
    the device's own gravity direction (uniform angle), so the gravity component is unchanged.
    A device without an accelerometer has no gravity estimate and gets a uniform SO(3)
    rotation in 'gravity' mode. 'none': identity."""
    if mode == 'none':
        return x
    B, D = x.shape[0], triads.shape[1]
    R = random_rotation((B, D), g, x.device).to(x.dtype)
    if mode == 'gravity':
        axes = gravity_axes(x, length, triads)
        angle = torch.rand((B, D), generator=g, device=x.device) * 2 * math.pi
        Rg = axis_rotation(axes, angle.to(x.dtype))
        has = axes.norm(dim=-1) > 0.5
        R = torch.where(has[..., None, None], Rg, R)
    elif mode != 'so3':
        raise ValueError(f"rotation mode must be 'so3', 'gravity' or 'none', got {mode!r}")
    return rotate_triads(x, triads, R)


def check_rotation_views(n, mode, context=''):
    """Raise ValueError unless `n` rotation views of `mode` can be made: n = 1 (as recorded,
    any mode) or n > 1 with 'so3' or 'gravity'. `context` is added to the message."""
    if n < 1 or (n > 1 and mode not in ('so3', 'gravity')):
        raise ValueError(f"{n} rotation views: expected 1 (off), or more views with rotation 'so3' or 'gravity', "
                         f"got {mode!r}{f' ({context})' if context else ''}")


def rotation_views(x, length, triads, n, mode='so3', seed=0):
    """n rotated copies of each window for test-time averaging, the same n rotations for every
    window whatever the batch, so the result does not depend on batching: view 0 as recorded;
    'so3': views 1..n-1 turn every device by fixed rotations drawn from `seed`; 'gravity': by
    angles 2 pi v / n about each device's own gravity direction (a device without an
    accelerometer gets the 'so3' rotation of that view).
    x (B, T, C), length (B,), triads (B, G, 5) -> (n, B, T, C)"""
    check_rotation_views(n, mode)
    B, D = x.shape[0], triads.shape[1]
    R = random_rotation((n,), torch.Generator().manual_seed(seed), 'cpu').to(x.device, x.dtype)   # (n, 3, 3)
    R[0] = torch.eye(3, device=x.device, dtype=x.dtype)
    R = R[:, None, None].expand(n, B, D, 3, 3)
    if mode == 'gravity':
        axes = gravity_axes(x, length, triads)                                          # (B, D, 3)
        angle = torch.arange(n, device=x.device, dtype=x.dtype) * (2 * math.pi / n)     # (n,)
        Rg = axis_rotation(axes.expand(n, B, D, 3), angle[:, None, None].expand(n, B, D))
        R = torch.where((axes.norm(dim=-1) > 0.5)[None, ..., None, None], Rg, R)
    return torch.stack([rotate_triads(x, triads, R[v]) for v in range(n)])


REVERSED_PHRASES = (('sitting down', 'standing up'), ('sit down', 'stand up'), ('lying down', 'getting up'),
                    ('lie down', 'get up'))        # label pairs that are each other's motion played backwards


def time_reverse(x, length, channel_type, flip):
    """Play the real part of the flagged windows backwards: the motion run in reverse. Specific
    force and magnetic field are read backwards as they are; angular velocity also changes sign.
    (A reversed stand-to-sit is a kinematically exact sit-to-stand, with the timing of a sit.)
    x (B, T, C), length (B,), channel_type (B, C) ids, flip (B,) bool -> (B, T, C)"""
    B, T, C = x.shape
    t = torch.arange(T, device=x.device)[None, :]
    moved = flip[:, None] & (t < length[:, None])                                         # (B, T)
    out = torch.gather(x, 1, torch.where(moved, length[:, None] - 1 - t, t)[:, :, None].expand(B, T, C))
    negate = moved[:, :, None] & (channel_type == GYRO_TYPE)[:, None, :]                 # (B, T, C)
    return torch.where(negate, -out, out)


def reverse_partnered(x, length, channel_type, labels, partner, g, p=0.5):
    """Time-reverse each window whose class has a partner (partner[label] >= 0) with probability
    p, relabelled as the partner. partner (L,) long from reversal_partners.
    x (B, T, C), length (B,), channel_type (B, C), labels (B,) -> x (B, T, C), labels (B,)"""
    other = partner[labels]
    flip = (other >= 0) & (torch.rand(len(x), generator=g, device=x.device) < p)
    return time_reverse(x, length, channel_type, flip), torch.where(flip, other, labels)


def reversal_partners(label_names):
    """Each label's partner under time reversal, by its name: 'a to b' <-> 'b to a', and the
    pairs of REVERSED_PHRASES, when both are labels. Labels with none (static postures, gait:
    walking backwards is not walking) are -1. -> list (L,) of indices"""
    index = {n.lower().strip(): i for i, n in enumerate(label_names)}
    swap = {**dict(REVERSED_PHRASES), **{b: a for a, b in REVERSED_PHRASES}}
    partner = []
    for n in label_names:
        key = n.lower().strip()
        parts = key.split(' to ')
        other = swap.get(key, ' to '.join(parts[::-1]) if len(parts) == 2 else None)
        partner.append(index.get(other, -1) if other != key else -1)
    return partner


def channel_shuffle(x, channel_mask, g):
    """Random permutation of each sample's real channels. Returns x (B, T, C) and perm (B, C)
    so callers can permute per-channel metadata the same way (x_new[..., j] = x[..., perm[j]]).
    Our encoder is channel-order equivariant, so this only matters for models that are not."""
    B, T, C = x.shape
    noise = torch.rand((B, C), generator=g, device=x.device).masked_fill(~channel_mask, 2.0)
    perm = noise.argsort(1)
    return torch.gather(x, 2, perm[:, None, :].expand(B, T, C)), perm


def weak(x, length, g, jitter_sigma=0.05, scale_sigma=0.1):
    """Jitter and scale. (Time shift is applied to both views alike, before this, so that patch
    p of one view still shows the same moment as patch p of the other.)"""
    return jitter(scale(x, g, scale_sigma), length, g, jitter_sigma)


def strong(x, length, g, warp_sigma=0.2, mag_sigma=0.2):
    return magnitude_warp(time_warp(x, length, g, warp_sigma), g, mag_sigma) * _time_valid(x, length)
