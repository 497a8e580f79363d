#!/usr/bin/env python3
"""Golden files for tests/test_noise.c, tests/test_sampler.c and tests/noise_cli_test.sh.

tests/golden/noise.safetensors (float32), from torch.randn(n, generator=torch.manual_seed(seed)):
  noise.s<seed>.n<n>          [n]  seeds 0, 1, 42, 2^32+7, 12345678901234567890;
                                   n = 1, 3, 15 (scalar double path), 16, 17, 100, 1000
  noise.s<seed>.latent        [1,16,2,8,8]  seeds 0, 42, 2^32+7: a latent-shaped draw
                                   (randn(shape) equals the flat draw of numel)

tests/golden/sampler.safetensors (float32; the references are named in each key):
  sched.<ref>.n<N>.shift<S>.sigmas     [N+1]  the reference scheduler's self.sigmas
  sched.<ref>.n<N>.shift<S>.timesteps  [N]    its self.timesteps (int64 ones stored as f32, exact)
  traj.x0                              [1,16,16] starting latent (torch.randn seed 7)
  traj.<ref>.n<N>.shift<S>.xs          [N,1,16,16] the latent after each step
  traj.<ref>.n<N>.shift<S>.t           [N]    the model timestep of each step
  trajcr.<ref>.n10.shift5.xs           [10,1,16,16] the same run with torch.log and torch.exp
                                       on fp32 replaced by correctly rounded ones (computed in
                                       float64): torch sends those two to MKL VML, whose bits we
                                       cannot reproduce; everything else must then match bitwise
  solve.in                             [M,3] (rk, b1, b2) fp32 systems, and
  solve.out                            [M,2] torch.linalg.solve([[1,1],[rk,1]], [b1,b2]) on the
                                       CPU in fp32: the UniPC corrector's 2x2 solve (LAPACK/MKL)
  with <ref> one of
    wan_unipc        Wan2.1 wan/utils/fm_solvers_unipc.py FlowUniPCMultistepScheduler
                     (shift=1 ctor, set_timesteps(N, shift=S): as wan/text2video.py)
    wan_dpm          Wan2.1 wan/utils/fm_solvers.py FlowDPMSolverMultistepScheduler with
                     get_sampling_sigmas(N, S) + retrieve_timesteps (text2video's 'dpm++')
    diffusers_unipc  diffusers UniPCMultistepScheduler(use_flow_sigmas=True,
                     prediction_type='flow_prediction', flow_shift=S)
    diffusers_dpm    diffusers DPMSolverMultistepScheduler(use_flow_sigmas=True,
                     prediction_type='flow_prediction', flow_shift=S)
    diffusers_euler  diffusers FlowMatchEulerDiscreteScheduler(shift=S)
  The toy model (the same fp32 op sequence is in tests/test_sampler.c), t = model timestep:
    tau = fp32(float(t) / 1000)
    vc  = (0.5*x) / (1 + x*x) + (tau*0.75)*x - 0.125
    vu  = 0.25*x - tau*0.375
    v   = vu + 5.0*(vc - vu)                       (CFG, guidance 5)
    x   = scheduler.step(v, t, x)

Wan2.1 is not a pip package and is not vendored: pass a checkout (or a bare git
directory) of https://github.com/Wan-Video/Wan2.1 (tested at 9737cba) with --wan; the two
scheduler files are copied to a temporary directory and imported from there.
Run from the repository root:
  python3 scripts/golden/make_sampler_golden.py --wan /path/to/Wan2.1
Pinned versions: scripts/golden/requirements.txt. Runs on the CPU.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GOLDEN = os.path.join(ROOT, "tests", "golden")

NOISE_SEEDS = [0, 1, 42, 2**32 + 7, 12345678901234567890]
NOISE_SIZES = [1, 3, 15, 16, 17, 100, 1000]
LATENT_SEEDS = [0, 42, 2**32 + 7]
LATENT_SHAPE = (1, 16, 2, 8, 8)

SCHED_CASES = [(1, 5.0), (2, 5.0), (4, 5.0), (10, 5.0), (20, 3.0), (30, 8.0), (50, 5.0), (7, 1.0)]
TRAJ_CASES = [(10, 5.0), (7, 3.0), (3, 5.0)]
GUIDANCE = 5.0


def read_wan_file(wan, rel):
    path = os.path.join(wan, rel)
    if os.path.isfile(path):
        with open(path) as f:
            return f.read()
    # a bare git directory (or a checkout's .git): read the file from HEAD
    return subprocess.run(["git", "--git-dir", wan, "show", "HEAD:" + rel], check=True,
                          capture_output=True, text=True).stdout


def import_wan_schedulers(wan, tmp):
    mods = {}
    for name in ("fm_solvers_unipc", "fm_solvers"):
        dst = os.path.join(tmp, name + ".py")
        with open(dst, "w") as f:
            f.write(read_wan_file(wan, "wan/utils/%s.py" % name))
        spec = importlib.util.spec_from_file_location("wan_" + name, dst)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods


# ---------------------------------------------------------------- schedulers

def make_scheduler(ref, mods, n, shift):
    """A fresh scheduler with its timesteps set, as each reference's pipeline does it."""
    if ref == "wan_unipc":
        s = mods["fm_solvers_unipc"].FlowUniPCMultistepScheduler(
            num_train_timesteps=1000, shift=1, use_dynamic_shifting=False)
        s.set_timesteps(n, device="cpu", shift=shift)
        return s
    if ref == "wan_dpm":
        m = mods["fm_solvers"]
        s = m.FlowDPMSolverMultistepScheduler(num_train_timesteps=1000, shift=1,
                                              use_dynamic_shifting=False)
        m.retrieve_timesteps(s, device="cpu", sigmas=m.get_sampling_sigmas(n, shift))
        return s
    from diffusers import (DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler,
                           UniPCMultistepScheduler)
    if ref == "diffusers_unipc":
        s = UniPCMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction",
                                    flow_shift=shift)
    elif ref == "diffusers_dpm":
        s = DPMSolverMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction",
                                        flow_shift=shift)
    elif ref == "diffusers_euler":
        s = FlowMatchEulerDiscreteScheduler(shift=shift)
    else:
        raise ValueError(ref)
    s.set_timesteps(n, device="cpu")
    return s


REFS = ["wan_unipc", "wan_dpm", "diffusers_unipc", "diffusers_dpm", "diffusers_euler"]


def toy_velocity(x, t):
    tau = torch.tensor(float(t) / 1000.0, dtype=torch.float32)
    vc = (0.5 * x) / (1.0 + x * x) + (tau * 0.75) * x - 0.125
    vu = 0.25 * x - tau * 0.375
    return vu + GUIDANCE * (vc - vu)


def run_trajectory(sched, x0):
    x = x0.clone()
    xs, ts = [], []
    for t in sched.timesteps:
        v = toy_velocity(x, t)
        x = sched.step(v, t, x, return_dict=False)[0]
        assert x.dtype == torch.float32
        xs.append(x.clone())
        ts.append(float(t))
    return torch.stack(xs), torch.tensor(ts, dtype=torch.float32)


class CorrectlyRoundedLogExp:
    """Within the block, fp32 torch.log/torch.exp round the float64 result once."""

    def __enter__(self):
        self.log, self.exp = torch.log, torch.exp
        torch.log = lambda x: self.log(x.double()).float() if x.dtype == torch.float32 else self.log(x)
        torch.exp = lambda x: self.exp(x.double()).float() if x.dtype == torch.float32 else self.exp(x)

    def __exit__(self, *exc):
        torch.log, torch.exp = self.log, self.exp


def key(ref, n, shift):
    return "%s.n%d.shift%g" % (ref, n, shift)


def make_sampler_golden(mods):
    out = {}
    for ref in REFS:
        for n, shift in SCHED_CASES:
            s = make_scheduler(ref, mods, n, shift)
            sig = s.sigmas.to(torch.float32).contiguous()
            ts = s.timesteps
            assert sig.numel() == n + 1 and ts.numel() == n
            if ts.dtype == torch.int64:
                assert int(ts.abs().max()) < 2**24  # exact in f32
            out["sched.%s.sigmas" % key(ref, n, shift)] = sig
            out["sched.%s.timesteps" % key(ref, n, shift)] = ts.to(torch.float32).contiguous()
    x0 = torch.randn((1, 16, 16), generator=torch.manual_seed(7))
    out["traj.x0"] = x0
    for ref in REFS:
        for n, shift in TRAJ_CASES:
            xs, ts = run_trajectory(make_scheduler(ref, mods, n, shift), x0)
            out["traj.%s.xs" % key(ref, n, shift)] = xs.contiguous()
            out["traj.%s.t" % key(ref, n, shift)] = ts
        if ref != "diffusers_euler":  # Euler takes no log/exp: traj.* is already exact
            with CorrectlyRoundedLogExp():
                xs, _ = run_trajectory(make_scheduler(ref, mods, 10, 5.0), x0)
            out["trajcr.%s.xs" % key(ref, 10, 5.0)] = xs.contiguous()
    return out


def make_solve_golden():
    rng = np.random.default_rng(3)
    m = 400
    rk = np.exp(rng.uniform(-3, 3, m)) * rng.choice([-1.0, 1.0], m)
    rk[:4] = [-1.0, 0.5, 2.0, 1.0009765625]  # |rk| = 1 exactly: the pivot tie
    b = rng.uniform(-2, 2, (m, 2))
    sys_in = torch.tensor(np.column_stack([rk, b]), dtype=torch.float32)
    out = []
    for rk_, b1, b2 in sys_in:
        R = torch.stack([torch.stack([torch.tensor(1.0), torch.tensor(1.0)]), torch.stack([rk_, torch.tensor(1.0)])])
        out.append(torch.linalg.solve(R, torch.stack([b1, b2])))
    return {"solve.in": sys_in.contiguous(), "solve.out": torch.stack(out).contiguous()}


def make_noise_golden():
    out = {}
    for seed in NOISE_SEEDS:
        for n in NOISE_SIZES:
            out["noise.s%d.n%d" % (seed, n)] = torch.randn(n, generator=torch.manual_seed(seed))
    for seed in LATENT_SEEDS:
        lat = torch.randn(LATENT_SHAPE, generator=torch.manual_seed(seed))
        flat = torch.randn(int(np.prod(LATENT_SHAPE)), generator=torch.manual_seed(seed))
        assert torch.equal(lat.flatten(), flat)
        out["noise.s%d.latent" % seed] = lat.contiguous()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wan", required=True, help="Wan2.1 checkout or bare git directory")
    args = ap.parse_args()
    os.makedirs(GOLDEN, exist_ok=True)
    meta = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    noise = make_noise_golden()
    save_file(noise, os.path.join(GOLDEN, "noise.safetensors"), metadata=meta)
    with tempfile.TemporaryDirectory() as tmp:
        mods = import_wan_schedulers(args.wan, tmp)
        import diffusers
        meta["diffusers"] = diffusers.__version__
        meta["toy_model"] = "tau=fp32(t/1000); vc=(0.5x)/(1+x*x)+(tau*0.75)x-0.125; " \
                            "vu=0.25x-tau*0.375; v=vu+5(vc-vu)"
        samp = make_sampler_golden(mods)
    samp.update(make_solve_golden())
    save_file(samp, os.path.join(GOLDEN, "sampler.safetensors"), metadata=meta)
    for name in ("noise.safetensors", "sampler.safetensors"):
        print("wrote tests/golden/%s (%d bytes)" % (name, os.path.getsize(os.path.join(GOLDEN, name))))


if __name__ == "__main__":
    sys.exit(main())
