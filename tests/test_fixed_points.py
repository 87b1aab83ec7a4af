"""Every stationary point with its stability (gvpo_theory.fixed_points).

Independent checks: the root counts of two-level problems against a dense sign-change
scan of an independently written stationarity function (tests/reference.py enumeration
or the G = ∞ closed form) and brentq; the flow Jacobian against finite differences of
dynamics.grpo_expected_update; the local rate against integration of the flow and
against sampled training with the torch module; a fold against its closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logit, logsumexp
from scipy.stats import binom

from gvpo_theory import grpo_stationary_policy, objective
from gvpo_theory._binary_roots import isolate_binary_roots
from gvpo_theory._branches import level_problem, trace_branch
from gvpo_theory.dynamics import grpo_expected_update, grpo_flow
from gvpo_theory.fixed_points import beta_branches, stationary_points
from gvpo_theory.objective import as_objective
from tests.reference import exact_preference, level_preference

# ------------------------------------------------------------------ independent references


def ref_level_advantages(x: np.ndarray, group_size: float, std: str) -> tuple[np.ndarray, np.ndarray]:
    """(a_0, a_1) for levels (0, 1) at logits x (mass q = σ(x) on level 1), vectorised.

    Finite G: the binomial sum over the number k of other members on level 1 of the
    advantage defined directly from the group (mean, std with ddof 0 or 1, ties → 0).
    G = ∞: the closed form (v − μ)/σ.
    """
    q, p = expit(x), expit(-x)
    if math.isinf(group_size):
        if std == "none":
            return -q, p
        s = np.sqrt(q * p)
        return -q / s, p / s
    g = int(group_size)
    k = np.arange(g)
    pmf = binom.pmf(k[None, :], g - 1, q[:, None])
    out = []
    for level in (0, 1):
        ones = k + level
        mean = ones / g
        dev = level - mean
        var = mean * (1.0 - mean) * (g / (g - 1) if std == "sample" else 1.0)
        tie = (ones == 0) | (ones == g)
        adv = dev if std == "none" else np.where(tie, 0.0, dev / np.sqrt(np.where(tie, 1.0, var)))
        out.append(pmf @ adv)
    return out[0], out[1]


def test_reference_advantages_agree_with_the_enumeration_of_tests_reference():
    for g, std in [(2, "population"), (5, "sample"), (8, "none")]:
        for q in (0.1, 0.5, 0.9):
            a0, a1 = ref_level_advantages(np.array([logit(q)]), g, std)
            want = level_preference(np.array([1 - q, q]), np.array([0.0, 1.0]), g, std)
            np.testing.assert_allclose([a0[0], a1[0]], want, rtol=1e-12, atol=1e-14)


def ref_stationarity(x, q_ref1: float, beta: float, group_size: float, std: str, penalty: str):
    """The two-level fixed-point function in the logit x, from the definitions."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    a0, a1 = ref_level_advantages(x, group_size, std)
    if penalty == "direct_kl":
        return x - float(logit(q_ref1)) - (a1 - a0) / beta
    return expit(x) * (1.0 - a1 / beta) - q_ref1


def scan_roots(q_ref1, beta, group_size, std, penalty, lo, hi, n):
    """Roots by a dense sign-change scan in x, each refined by brentq."""
    xs = np.linspace(lo, hi, n)
    vals = ref_stationarity(xs, q_ref1, beta, group_size, std, penalty)
    idx = np.nonzero(np.signbit(vals[:-1]) != np.signbit(vals[1:]))[0]
    f = lambda x: float(ref_stationarity(x, q_ref1, beta, group_size, std, penalty)[0])  # noqa: E731
    return [brentq(f, xs[i], xs[i + 1], xtol=1e-14) for i in idx]


# ------------------------------------------------------------------ the example


def test_direct_kl_infinite_group_two_interior_points_and_the_vertex():
    res = stationary_points([0.7, 0.3], [0.0, 1.0], 2.0, math.inf, penalty="direct_kl")
    assert res.certified
    interior = res.interior
    assert len(interior) == 2
    # independent roots: logit π(a) = logit 0.3 + 1/(β·√(q(1 − q)))
    f = lambda x: x - logit(0.3) - 1.0 / (2.0 * math.sqrt(expit(x) * expit(-x)))  # noqa: E731
    lo_root, hi_root = brentq(f, -2.0, 2.0, xtol=1e-15), brentq(f, 2.0, 8.0, xtol=1e-15)
    assert interior[0].level_masses[1] == pytest.approx(expit(lo_root), abs=1e-12)
    assert interior[1].level_masses[1] == pytest.approx(expit(hi_root), abs=1e-12)
    assert round(interior[0].level_masses[1], 5) == 0.53886
    assert round(interior[1].level_masses[1], 5) == 0.99224
    assert interior[0].label == "attractor" and interior[1].label == "repeller"
    assert res.points[res.reached] is interior[0]
    # the one the solver returns is the attractor
    sol = grpo_stationary_policy([0.7, 0.3], [0.0, 1.0], 2.0, math.inf, penalty="direct_kl")
    assert sol.policy[1] == pytest.approx(interior[0].level_masses[1], abs=1e-12)
    vertices = {tuple(p.support.tolist()): p for p in res.points if p.kind == "boundary"}
    assert vertices[(False, True)].label == "attractor"  # π(a) = 1
    assert vertices[(True, False)].label == "repeller"
    assert vertices[(False, True)].transverse_rates[0] == 0.0
    # started beyond the unstable point, the flow runs to the vertex π(a) = 1
    far = stationary_points([0.7, 0.3], [0.0, 1.0], 2.0, math.inf, penalty="direct_kl",
                            pi0=[1e-6, 1.0 - 1e-6])
    assert far.points[far.reached].support.tolist() == [False, True]


def test_no_interior_point_below_the_fold():
    res = stationary_points([0.7, 0.3], [0.0, 1.0], 0.5, math.inf, penalty="direct_kl")
    assert res.interior == ()
    assert res.points[res.reached].support.tolist() == [False, True]
    assert res.points[res.reached].label == "attractor"


# ------------------------------------------------------------------ certified count


def _random_binary(rng):
    g = [2, 3, 4, 8, 16, 32, math.inf][rng.integers(7)]
    std = ["population", "sample", "none"][rng.integers(3)]
    penalty = ["reverse_kl", "direct_kl"][rng.integers(2)]
    q1 = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.999))))
    beta = float(np.exp(rng.uniform(np.log(0.1), np.log(5.0))))
    return g, std, penalty, q1, beta


@pytest.mark.parametrize("seed", range(6))
def test_certified_count_matches_dense_scan(seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        g, std, penalty, q1, beta = _random_binary(rng)
        obj = as_objective(g, std, penalty)
        got = isolate_binary_roots(np.array([1.0 - q1, q1]), np.array([0.0, 1.0]), beta, obj)
        assert got.certified, (g, std, penalty, q1, beta)
        lo, hi = (-30.0, 30.0) if penalty == "reverse_kl" else (logit(q1) - 1.0, 60.0)
        want = scan_roots(q1, beta, g, std, penalty, lo, hi, 100_001)
        assert len(got.roots) == len(want), (g, std, penalty, q1, beta, got.roots, want)
        np.testing.assert_allclose(got.roots, want, rtol=1e-10, atol=1e-10)


def test_certified_count_with_several_roots_and_eps():
    # direct KL at G = ∞ has two roots above β ≈ 1.08 for π_ref(a) = 0.3; at G = 128 the
    # bounded advantages close the branch again: three roots at β = 1.5
    for g, beta, n in [(math.inf, 1.5, 2), (128, 1.5, 3), (math.inf, 3.0, 2), (64, 1.5, 1)]:
        obj = as_objective(g, None, "direct_kl")
        got = isolate_binary_roots(np.array([0.7, 0.3]), np.array([0.0, 1.0]), beta, obj)
        want = scan_roots(0.3, beta, g, "population", "direct_kl", logit(0.3) - 1, 40.0, 40_001)
        assert got.certified and len(got.roots) == len(want) == n
        np.testing.assert_allclose(got.roots, want, rtol=1e-10)
    # eps bounds the advantages: a third, large root appears at G = ∞ (checked by a scan of
    # the engine's own function: the enclosure is tested, not the kernel)
    obj = as_objective(math.inf, None, "direct_kl", 0.05)
    got = isolate_binary_roots(np.array([0.7, 0.3]), np.array([0.0, 1.0]), 1.5, obj)
    from gvpo_theory._binary_roots import _Binary

    fn = _Binary(np.array([0.7, 0.3]), np.array([0.0, 1.0]), 1.5, obj)
    xs = np.linspace(-5, 80, 200_001)
    vals = fn.value(xs)
    assert got.certified
    assert len(got.roots) == int(np.sum(np.signbit(vals[:-1]) != np.signbit(vals[1:]))) == 3


def test_fold_of_the_binary_direct_kl_branch_matches_its_closed_form():
    # at the fold f = 0 and f' = 0: β = sinh(x/2) and x − logit 0.3 = 2·coth(x/2)
    x_fold = brentq(lambda x: x - logit(0.3) - 2.0 / math.tanh(x / 2.0), 0.1, 20.0, xtol=1e-15)
    beta_fold = math.sinh(x_fold / 2.0)
    pb = level_problem(np.array([0.7, 0.3]), np.array([0.0, 1.0]), objective("grpo-direct-kl", math.inf))
    start = stationary_points([0.7, 0.3], [0.0, 1.0], 3.0, math.inf, penalty="direct_kl", flow=False)
    z0 = np.array([logit(start.interior[0].level_masses[1])])
    br = trace_branch(z0, math.log(3.0), pb, -1.0, math.log(0.5), math.log(3.0) + 1e-9)
    assert len(br.folds) == 1
    z, s = br.folds[0]
    assert math.exp(s) == pytest.approx(beta_fold, rel=1e-8)
    assert z[0] == pytest.approx(x_fold, rel=1e-6)


def test_beta_branches_turn_at_the_folds_and_change_stability_there():
    x_fold = brentq(lambda x: x - logit(0.3) - 2.0 / math.tanh(x / 2.0), 0.1, 20.0, xtol=1e-15)
    (branch,) = beta_branches([0.7, 0.3], [0.0, 1.0], 0.5, 10.0, math.inf, penalty="direct_kl")
    assert branch.fold_beta == pytest.approx([math.sinh(x_fold / 2.0)], rel=1e-8)
    i = int(np.argmin(branch.beta))  # the turning point
    assert np.all(branch.stable[: i - 1]) and not np.any(branch.stable[i + 2:])
    # every traced point is a root of the independent function
    x = logit(branch.level_masses[:, 1])
    for xi, b in zip(x[::10], branch.beta[::10]):
        assert abs(ref_stationarity(xi, 0.3, b, math.inf, "population", "direct_kl")[0]) < 1e-9
    # G = 128: the branch folds twice and is stable again near π(a) = 1
    (b128,) = beta_branches([0.7, 0.3], [0.0, 1.0], 0.5, 10.0, 128, penalty="direct_kl")
    assert b128.fold_beta.size == 2 and b128.stable[0] and b128.stable[-1]
    with pytest.raises(ValueError, match="beta_min"):
        beta_branches([0.7, 0.3], [0.0, 1.0], 2.0, 1.0, 8)


# ------------------------------------------------------------------ Jacobian and labels


def _fd_spectrum(pi, pi_ref, rewards, beta, obj):
    """Eigenvalues of ∂F/∂θ modulo the shift by central differences of the engine's update."""
    theta = np.log(pi)
    k = pi.size

    def f(th):
        return grpo_expected_update(np.exp(th - logsumexp(th)), pi_ref, rewards, beta, obj)

    jac = np.zeros((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = 1e-6
        jac[:, j] = (f(theta + e) - f(theta - e)) / 2e-6
    return np.sort_complex(np.linalg.eigvals(jac[1:, 1:] - jac[0:1, 1:]))


@pytest.mark.parametrize("seed", range(4))
def test_flow_jacobian_matches_finite_differences(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(4):
        k = int(rng.integers(3, 7))
        rewards = rng.integers(0, 2, k).astype(float)
        rewards[:2] = [0.0, 1.0] if k < 4 else rewards[:2]
        rewards[-2:] = [0.0, 1.0]
        pi_ref = rng.dirichlet(np.ones(k))
        if k >= 4:  # two exchangeable outputs: same level, same π_ref
            rewards[1] = rewards[0]
            pi_ref[1] = pi_ref[0]
            pi_ref /= pi_ref.sum()
        obj = as_objective([2, 4, 8, math.inf][rng.integers(4)], None,
                           ["reverse_kl", "direct_kl"][rng.integers(2)])
        beta = float(np.exp(rng.uniform(-1, 1)))
        res = stationary_points(pi_ref, rewards, beta, obj, boundary=False, flow=False)
        for p in res.interior:
            mine = np.concatenate([p.eigenvalues,
                                   np.repeat(p.exchange_eigenvalues, p.exchange_multiplicities)])
            want = _fd_spectrum(p.policy, pi_ref, rewards, beta, obj)
            np.testing.assert_allclose(np.sort_complex(mine), want, atol=1e-7)
            # the level problem's spectrum, by differences on the collapsed problem
            np.testing.assert_allclose(
                np.sort_complex(p.level_eigenvalues),
                _fd_spectrum(p.level_masses, _q(pi_ref, rewards), np.unique(rewards), beta, obj),
                atol=1e-7)


def test_flow_jacobian_three_levels_matches_finite_differences():
    pi_ref, rewards, beta = np.array([0.3, 0.2, 0.3, 0.2]), np.array([0.0, 1.0, 0.0, 2.0]), 0.4
    obj = as_objective(4)
    res = stationary_points(pi_ref, rewards, beta, obj, boundary=False, flow=False, n_random=4)
    for p in res.interior:
        mine = np.concatenate([p.eigenvalues, np.repeat(p.exchange_eigenvalues, p.exchange_multiplicities)])
        np.testing.assert_allclose(np.sort_complex(mine), _fd_spectrum(p.policy, pi_ref, rewards, beta, obj),
                                   atol=1e-7)


def _q(pi_ref, rewards):
    levels, inv = np.unique(rewards, return_inverse=True)
    return np.bincount(inv, weights=pi_ref, minlength=levels.size)


def test_exchange_eigenvalues_closed_form():
    # two outputs of level 1 with equal π_ref: the exchange eigenvalue is −β·π_ref(o) (k3)
    # and −β·π(o) (direct KL)
    pi_ref, rewards, beta = np.array([0.4, 0.2, 0.2, 0.2]), np.array([0.0, 1.0, 1.0, 0.0]), 0.7
    k3 = stationary_points(pi_ref, rewards, beta, 8, boundary=False, flow=False).interior[0]
    assert k3.exchange_eigenvalues == pytest.approx([-beta * 0.2], rel=1e-14)
    dk = stationary_points(pi_ref, rewards, beta, 8, penalty="direct_kl", boundary=False,
                           flow=False).interior[0]
    assert dk.exchange_eigenvalues == pytest.approx([-beta * dk.policy[1]], rel=1e-14)
    assert dk.exchange_multiplicities.tolist() == [1]


# ------------------------------------------------------------------ three or more levels


def _independent_violation(pi, pi_ref, rewards, beta, g, std, penalty):
    pref = exact_preference(pi, rewards, g, std)
    if penalty == "direct_kl":
        target = pi_ref * np.exp(pref / beta)
        return float(np.max(np.abs(pi - target / target.sum())))
    return float(np.max(np.abs(pi * (1.0 - pref / beta) - pi_ref)))


@pytest.mark.parametrize(("g", "penalty", "beta"), [
    (4, "reverse_kl", 0.3), (math.inf, "reverse_kl", 0.6),
    pytest.param(8, "direct_kl", 0.5, marks=pytest.mark.slow),
])
def test_three_levels_every_point_satisfies_an_independent_fixed_point(g, penalty, beta):
    pi_ref = np.array([0.3, 0.2, 0.25, 0.25])
    rewards = np.array([0.0, 1.0, 0.0, 2.0])
    res = stationary_points(pi_ref, rewards, beta, g, penalty=penalty, n_random=8)
    assert not res.certified
    for p in res.points:
        face = p.support
        if p.kind == "interior":
            viol = _independent_violation(p.policy, pi_ref, rewards, beta, g, "population", penalty)
            assert viol < 1e-10
            assert sum(p.found_by.values()) >= 1
        else:  # a face: the restricted problem with the penalty's reference (module docstring)
            keep = np.isin(np.unique(rewards, return_inverse=True)[1], np.nonzero(face)[0])
            ref = pi_ref[keep]
            ref = ref + (1.0 - ref.sum()) / ref.size if penalty == "reverse_kl" else ref / ref.sum()
            if np.unique(rewards[keep]).size > 1:
                viol = _independent_violation(p.policy[keep], ref, rewards[keep], beta, g, "population",
                                              penalty)
                assert viol < 1e-10
    sol = grpo_stationary_policy(pi_ref, rewards, beta, g, penalty=penalty)
    assert any(np.max(np.abs(p.policy - sol.policy)) < 1e-9 for p in res.interior)
    assert res.points[res.reached].label == "attractor"


def test_k3_faces_repel_at_the_closed_form_rate():
    pi_ref, rewards, beta = np.array([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0]), 0.4
    res = stationary_points(pi_ref, rewards, beta, 4, flow=False)
    for p in res.points:
        if p.kind != "boundary":
            continue
        dead = ~p.support
        n_live = int(p.support.sum())
        want = beta * pi_ref[dead] + beta * pi_ref[dead].sum() / n_live
        np.testing.assert_allclose(p.transverse_rates[dead], want, rtol=1e-12)
        assert np.all(p.transverse_signs[dead] == 1) and p.label != "attractor"


# ------------------------------------------------------------------ rates


def test_local_rate_matches_the_integrated_flow():
    pi_ref, rewards, beta = np.array([0.5, 0.2, 0.3]), np.array([0.0, 1.0, 2.0]), 0.5
    obj = as_objective(8)
    res = stationary_points(pi_ref, rewards, beta, obj, boundary=False, flow=False)
    p = res.interior[0]
    assert p.label == "attractor"
    start = p.policy * np.exp(np.array([0.02, -0.01, 0.015]))
    start /= start.sum()
    flow = grpo_flow(pi_ref, rewards, beta, obj, pi0=start, t_max=400.0, tol=1e-14, rtol=1e-12, atol=1e-14)
    dist = np.max(np.abs(flow.policies - p.policy), axis=1)
    window = (dist < 1e-4) & (dist > 1e-9)
    slope = np.polyfit(flow.times[window], np.log(dist[window]), 1)[0]
    assert slope == pytest.approx(p.rate, rel=2e-3)


def test_sampled_training_contracts_at_the_predicted_rate():
    torch = pytest.importorskip("torch")
    from gvpo_theory.torch.losses import grpo_grad
    from gvpo_theory.torch.samplers import sample_categorical

    pi_ref, rewards, beta, g = np.array([0.7, 0.3]), np.array([0.0, 1.0]), 0.5, 8
    p = stationary_points(pi_ref, rewards, beta, g, boundary=False, flow=False).interior[0]
    lr, steps, batch, delta = 0.05, 100, 4096, 0.3
    gen = torch.Generator().manual_seed(0)
    theta_star = torch.tensor(np.log(p.policy), dtype=torch.float64)
    sign = torch.ones(batch, dtype=torch.float64)
    sign[batch // 2:] = -1.0  # ±δ starts: the even-order terms cancel in the difference
    theta = theta_star.repeat(batch, 1)
    theta[:, 1] += delta * sign
    ref = torch.tensor(np.log(pi_ref), dtype=torch.float64).repeat(batch, 1)
    r = torch.tensor(rewards, dtype=torch.float64)
    devs = []
    for _ in range(steps):
        x = (theta[:, 1] - theta[:, 0]) - (theta_star[1] - theta_star[0])
        devs.append(((x * sign).reshape(8, -1).mean(1)).numpy().copy())
        samples = sample_categorical(torch.softmax(theta, -1), g, gen)
        theta = theta - lr * grpo_grad(theta, samples, r[samples], ref, beta)
    devs = np.array(devs)  # (steps, 8 sub-batches)
    t = np.arange(steps)
    rates = np.array([np.polyfit(t, np.log(devs[:, j]), 1)[0] for j in range(8)])
    predicted = math.log1p(lr * p.rate)  # per step of size lr
    band = 4.0 * rates.std(ddof=1) / math.sqrt(8) + 0.02 * abs(predicted)  # noise + O(δ²)
    assert abs(rates.mean() - predicted) <= band, (rates.mean(), predicted, band)
    assert band < 0.2 * abs(predicted)  # the check can fail: the band is narrow


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"beta": -1.0}, "beta"),
        ({"beta": [0.5, 1.0]}, "beta"),
        ({"pi_ref": [0.5, 0.6]}, "pi_ref"),
        ({"pi_ref": [[0.5, 0.5]]}, "pi_ref"),
        ({"rewards": [0.0, float("nan")]}, "rewards"),
        ({"rewards": [1.0, 1.0]}, "pi_ref"),
        ({"pi0": [0.2, 0.9]}, "pi0"),
        ({"pi0": [1.0, 0.0]}, "pi0"),
        ({"pi0": [0.5, 0.25, 0.25]}, "pi0"),
        ({"n_random": -1}, "n_random"),
        ({"group_size": 1}, "group_size"),
        ({"penalty": "l2"}, "penalty"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    args = {"pi_ref": [0.7, 0.3], "rewards": [0.0, 1.0], "beta": 1.0, "group_size": 4}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        stationary_points(**args)


def test_pi0_off_the_reference_support_is_refused():
    with pytest.raises(ValueError, match="pi0"):
        stationary_points([0.5, 0.5, 0.0], [0.0, 1.0, 1.0], 1.0, 4, pi0=[0.4, 0.4, 0.2])
