"""The model's equations: the single definition every other form is generated from.

The numba right-hand side of the batched solver, the JAX right-hand side used for fitting,
the SBML Level 3 export and the equation listing of the documentation are all generated from
the symbolic objects defined here (see :mod:`allocart.model.codegen`). Nothing else in the
package writes the equations a second time.

The structure follows the project's model specification (§8) with the changes its
feasibility check (§11) showed to be necessary:

* the CAR-T niche counts CAR-T cells only;
* effector proliferation is driven by the lymphodepletion cytokine excess only, so the
  expansion window closes as host lymphocytes recover;
* the B-lineage steady state is closed by construction (precursor pool and activation rates
  are solved from the baseline, net loss rates are sampled instead of birth and death);
* proliferation is multiplied by an extinction factor so CAR-T cannot regrow from a fraction
  of a cell;
* autoreactive B cells regenerate mostly from surviving clones (slow "immune reset");
* the inflammation floor is low enough for DORIS remission to be reachable;
* every kink (``max``) is replaced by a smooth positive part.

Additions beyond §8: lymphodepleting drugs as exposure states driving log-kill of host
lymphocytes (so regimens are doses on days, not fixed fractions), NK cells split by NKG2A
(anti-NKG2A CAR and HLA-E act on that subset), anti-CAR immunity (rejection on redosing),
C4, and Friberg-type neutrophil and platelet chains.

References
----------
Kimmel GJ, Locke FL, Altrock PM. Proc R Soc B 2021;288:20210229.
Hosseini I et al. npj Syst Biol Appl 2020;6:28.
Friberg LE et al. J Clin Oncol 2002;20:4713-4721.
Hardiansyah D, Ng CM. Clin Transl Sci 2019;12:343.
Stein AM et al. CPT Pharmacometrics Syst Pharmacol 2019;8:285.
"""

from __future__ import annotations

import sympy as sp

from allocart.model.definition import ModelDefinition, Observable, State, smooth_pos

__all__ = ["State", "Observable", "ModelDefinition", "MODEL", "smooth_pos"]


def _build() -> ModelDefinition:
    p = sp.symbols  # shorthand
    (
        rho_E,
        theta_Phi,
        kappa_Phi,
        eps_Phi,
        EC50_A,
        delta_E,
        k_EM,
        k_ME,
        k_EX,
        delta_X,
        rho_M,
        nu_M,
        gamma_kill,
        K_kill,
        K_T,
        C_ext,
        Z50_IL6,
        q_ET,
    ) = p(
        "rho_E theta_Phi kappa_Phi eps_Phi EC50_A delta_E k_EM k_ME k_EX delta_X "
        "rho_M nu_M gamma_kill K_kill K_T C_ext Z50_IL6 q_ET"
    )
    (
        r_N,
        K_N,
        theta_NPhi,
        r_K,
        K_ss,
        phi_NKG2A,
        k_NKG2A,
        K_NKG2A,
        e_HLAE,
        rho_H,
        H0,
        k_H0,
        delta_H,
        K_G,
        k_Trej,
        k_NKrej,
        rho_C,
        C0,
        k_C0,
        delta_C,
        k_Crej,
    ) = p(
        "r_N K_N theta_NPhi r_K K_ss phi_NKG2A k_NKG2A K_NKG2A e_HLAE "
        "rho_H H0 k_H0 delta_H K_G k_Trej k_NKrej rho_C C0 k_C0 delta_C k_Crej"
    )
    k_flu, k_cy, ref_flu, ref_cy, share_flu, surv_N, surv_K, surv_B, surv_PB, D_trace = p(
        "k_flu k_cy ref_flu ref_cy share_flu surv_N surv_K surv_B surv_PB D_trace"
    )
    (
        B_ss,
        share_naive,
        share_auto,
        k_mat,
        delta_P,
        F_fb,
        eps_fb,
        nu_n,
        f_mem,
        nu_m,
        k_PBm,
        nu_a,
        k_PBa,
        w_I,
        delta_PB,
        k_LL,
        delta_LL,
        tau_BM,
        r_a,
        x_a,
        phi_niche,
    ) = p(
        "B_ss share_naive share_auto k_mat delta_P F_fb eps_fb nu_n f_mem nu_m "
        "k_PBm nu_a k_PBa w_I delta_PB k_LL delta_LL tau_BM r_a x_a phi_niche"
    )
    a19_P, a20_P, aB_P, a19_B, a20_B, aB_B, a19_PB, a20_PB, aB_PB, a19_LL, a20_LL, aB_LL = p(
        "a19_P a20_P aB_P a19_B a20_B aB_B a19_PB a20_PB aB_PB a19_LL a20_LL aB_LL"
    )
    (
        IgG0,
        k_IgG,
        q_IgG,
        Ab0,
        k_Ab,
        f_LL_Ab,
        C3_norm,
        C3_0,
        k_C3,
        C4_norm,
        C4_0,
        k_C4,
        h_C,
        k_I,
        w_Ab,
        w_0,
        h_I,
    ) = p(
        "IgG0 k_IgG q_IgG Ab0 k_Ab f_LL_Ab C3_norm C3_0 k_C3 C4_norm C4_0 k_C4 h_C k_I w_Ab w_0 h_I"
    )
    k_IL6, IL6_0, p_IL6, k_mye = p("k_IL6 IL6_0 p_IL6 k_mye")
    (
        ANC0,
        MTT_N,
        gamma_N,
        slope_flu_N,
        slope_cy_N,
        PLT0,
        MTT_P,
        gamma_P,
        slope_flu_P,
        slope_cy_P,
        Emax_IL6,
        IL6_50,
        E_gcsf,
        ANC_gcsf,
    ) = p(
        "ANC0 MTT_N gamma_N slope_flu_N slope_cy_N PLT0 MTT_P gamma_P slope_flu_P "
        "slope_cy_P Emax_IL6 IL6_50 E_gcsf ANC_gcsf"
    )
    V_blood, TransC = p("V_blood TransC")
    f_blood_C, f_blood_T, f_blood_K, f_blood_B, a_PBdetect = p(
        "f_blood_C f_blood_T f_blood_K f_blood_B a_PBdetect"
    )
    m_allo, p_HLAI, p_HLAE, u_NKG2A, imm_CAR, u19, u20, uB = p(
        "m_allo p_HLAI p_HLAE u_NKG2A imm_CAR u19 u20 uB"
    )

    states = (
        State("E", "cells", "effector CAR-T cells (whole body)", 1e-3, "car_t"),
        State("M", "cells", "memory/stem-like CAR-T cells", 1e-3, "car_t"),
        State("X", "cells", "exhausted CAR-T cells", 1e-3, "car_t"),
        State("N", "cells", "host conventional T cells", 1e-3, "host"),
        State("KA", "cells", "host NKG2A+ NK cells", 1e-3, "host"),
        State("K0", "cells", "host NKG2A- NK cells", 1e-3, "host"),
        State("H", "1", "graft-reactive (allo) host immunity, activation 0-1", 1e-12, "host"),
        State("Hc", "1", "anti-CAR (transgene) host immunity, activation 0-1", 1e-12, "host"),
        State("P", "cells", "bone-marrow B precursors (CD19+ CD20-)", 1e-3, "b_lineage"),
        State("Bn", "cells", "transitional and naive B cells", 1e-3, "b_lineage"),
        State("Bm", "cells", "memory B cells (non-autoreactive)", 1e-3, "b_lineage"),
        State("Ba", "cells", "autoreactive activated/memory B cells", 1e-3, "b_lineage"),
        State("PBn", "cells", "plasmablasts / short-lived plasma cells", 1e-3, "b_lineage"),
        State("PBa", "cells", "autoreactive plasmablasts", 1e-3, "b_lineage"),
        State("LLn", "cells", "long-lived plasma cells", 1e-3, "b_lineage"),
        State("LLa", "cells", "autoreactive long-lived plasma cells", 1e-3, "b_lineage"),
        State("IgG", "g/L", "total serum IgG", 1e-9, "humoral"),
        State("Ab", "IU/mL", "anti-dsDNA", 1e-9, "humoral"),
        State("C3", "g/L", "complement C3", 1e-9, "humoral"),
        State("C4", "g/L", "complement C4", 1e-10, "humoral"),
        State("I", "1", "latent SLE inflammatory activity (1 = baseline)", 1e-10, "humoral"),
        State(
            "Mye", "1", "monocyte/macrophage activation by CAR-T killing (0-1)", 1e-10, "cytokines"
        ),
        State("IL6", "pg/mL", "serum IL-6", 1e-8, "cytokines"),
        State("Dflu", "mg/m2", "fludarabine in the body", 1e-9, "lymphodepletion"),
        State("Dcy", "mg/m2", "cyclophosphamide in the body", 1e-9, "lymphodepletion"),
        State("ProlN", "1e9/L", "proliferating neutrophil progenitors (ANC units)", 1e-10, "myelo"),
        State("Tr1N", "1e9/L", "neutrophil transit compartment 1", 1e-10, "myelo"),
        State("Tr2N", "1e9/L", "neutrophil transit compartment 2", 1e-10, "myelo"),
        State("Tr3N", "1e9/L", "neutrophil transit compartment 3", 1e-10, "myelo"),
        State("ANC", "1e9/L", "absolute neutrophil count", 1e-10, "myelo"),
        State(
            "ProlP",
            "1e9/L",
            "proliferating megakaryocyte progenitors (platelet units)",
            1e-8,
            "myelo",
        ),
        State("Tr1P", "1e9/L", "platelet transit compartment 1", 1e-8, "myelo"),
        State("Tr2P", "1e9/L", "platelet transit compartment 2", 1e-8, "myelo"),
        State("Tr3P", "1e9/L", "platelet transit compartment 3", 1e-8, "myelo"),
        State("PLT", "1e9/L", "platelet count", 1e-8, "myelo"),
        # Supportive care as a state set by a dosing event, so the protocol's start day
        # (G-CSF allowed from day 7) needs no explicit time in the equations.
        State(
            "GCSF", "1", "G-CSF support allowed (0 before its start day, 1 after)", 1e-9, "myelo"
        ),
    )
    names = [s.name for s in states]
    (
        E,
        M,
        X,
        N,
        KA,
        K0,
        H,
        Hc,
        P,
        Bn,
        Bm,
        Ba,
        PBn,
        PBa,
        LLn,
        LLa,
        IgG,
        Ab,
        C3,
        C4,
        I,
        Mye,
        IL6,
        Dflu,
        Dcy,
        ProlN,
        Tr1N,
        Tr2N,
        Tr3N,
        ANC,
        ProlP,
        Tr1P,
        Tr2P,
        Tr3P,
        PLT,
        GCSF,
    ) = sp.symbols(names)

    # ---- derived parameters: baseline steady state and normalisers --------------------
    d: dict[str, sp.Expr] = {}
    sym = {}

    def derive(name: str, expr: sp.Expr) -> sp.Symbol:
        d[name] = expr
        sym[name] = sp.Symbol(name)
        return sym[name]

    delta_M = derive("delta_M", rho_M + nu_M)
    L_ss = derive("L_ss", K_N + K_ss)
    KA_ss = derive("KA_ss", phi_NKG2A * K_ss)
    K0_ss = derive("K0_ss", (1 - phi_NKG2A) * K_ss)
    # Log-kill potency per unit drug exposure (mg/m2 x day), chosen so that the reference
    # regimen leaves the surviving fraction surv_X; exposure of a bolus D is D / k.
    kf_N = derive("kf_N", -sp.log(surv_N) * share_flu * k_flu / ref_flu)
    kc_N = derive("kc_N", -sp.log(surv_N) * (1 - share_flu) * k_cy / ref_cy)
    kf_K = derive("kf_K", -sp.log(surv_K) * share_flu * k_flu / ref_flu)
    kc_K = derive("kc_K", -sp.log(surv_K) * (1 - share_flu) * k_cy / ref_cy)
    kf_B = derive("kf_B", -sp.log(surv_B) * share_flu * k_flu / ref_flu)
    kc_B = derive("kc_B", -sp.log(surv_B) * (1 - share_flu) * k_cy / ref_cy)
    kf_PB = derive("kf_PB", -sp.log(surv_PB) * share_flu * k_flu / ref_flu)
    kc_PB = derive("kc_PB", -sp.log(surv_PB) * (1 - share_flu) * k_cy / ref_cy)

    Bn_0 = derive("Bn_0", share_naive * B_ss)
    Ba_0 = derive("Ba_0", share_auto * B_ss)
    Bm_0 = derive("Bm_0", (1 - share_naive - share_auto) * B_ss)
    k_act = derive("k_act", nu_m * Bm_0 / (f_mem * Bn_0))
    k_brk = derive("k_brk", nu_a * Ba_0 / Bn_0)
    P_0 = derive("P_0", (nu_n + k_act + k_brk) * Bn_0 / k_mat)
    s_P = derive("s_P", (k_mat + delta_P) * P_0)
    PBn_0 = derive("PBn_0", ((1 - f_mem) * k_act * Bn_0 + k_PBm * Bm_0) / (delta_PB + k_LL))
    PBa_0 = derive("PBa_0", k_PBa * Ba_0 / (delta_PB + k_LL))
    LLn_0 = derive("LLn_0", k_LL * PBn_0 / delta_LL)
    LLa_0 = derive("LLa_0", k_LL * PBa_0 / delta_LL)
    p_PB = derive("p_PB", (1 - f_LL_Ab) * k_Ab * Ab0 / PBa_0)
    p_LL = derive("p_LL", f_LL_Ab * k_Ab * Ab0 / LLa_0)
    kappa_C3 = derive("kappa_C3", C3_norm / C3_0 - 1)
    kappa_C4 = derive("kappa_C4", C4_norm / C4_0 - 1)
    w_Ba = derive("w_Ba", 1 - w_Ab - w_0)
    k_trN = derive("k_trN", 4 / MTT_N)
    k_trP = derive("k_trP", 4 / MTT_P)

    # ---- baseline state --------------------------------------------------------------
    initial = {
        "E": sp.Integer(0),
        "M": sp.Integer(0),
        "X": sp.Integer(0),
        "N": K_N,
        "KA": KA_ss,
        "K0": K0_ss,
        "H": H0,
        "Hc": C0,
        "P": P_0,
        "Bn": Bn_0,
        "Bm": Bm_0,
        "Ba": Ba_0,
        "PBn": PBn_0,
        "PBa": PBa_0,
        "LLn": LLn_0,
        "LLa": LLa_0,
        "IgG": IgG0,
        "Ab": Ab0,
        "C3": C3_0,
        "C4": C4_0,
        "I": sp.Integer(1),
        "Mye": sp.Integer(0),
        "IL6": IL6_0,
        "Dflu": sp.Integer(0),
        "Dcy": sp.Integer(0),
        "ProlN": ANC0,
        "Tr1N": ANC0,
        "Tr2N": ANC0,
        "Tr3N": ANC0,
        "ANC": ANC0,
        "ProlP": PLT0,
        "Tr1P": PLT0,
        "Tr2P": PLT0,
        "Tr3P": PLT0,
        "PLT": PLT0,
        "GCSF": sp.Integer(0),
    }

    # ---- intermediates ---------------------------------------------------------------
    it: dict[str, sp.Expr] = {}

    def inter(name: str, expr: sp.Expr) -> sp.Symbol:
        it[name] = expr
        return sp.Symbol(name)

    C = inter("C_tot", E + M + X)
    # OR-gate recognition over the antigens the product targets (independent antigens).
    r_P = inter("r_P", 1 - (1 - u19 * a19_P) * (1 - u20 * a20_P) * (1 - uB * aB_P))
    r_B = inter("r_B", 1 - (1 - u19 * a19_B) * (1 - u20 * a20_B) * (1 - uB * aB_B))
    r_PB = inter("r_PB", 1 - (1 - u19 * a19_PB) * (1 - u20 * a20_PB) * (1 - uB * aB_PB))
    r_LL = inter("r_LL", 1 - (1 - u19 * a19_LL) * (1 - u20 * a20_LL) * (1 - uB * aB_LL))
    A = inter(
        "A_load",
        r_P * tau_BM * P + r_B * (Bn + Bm + Ba) + r_PB * (PBn + PBa) + r_LL * tau_BM * (LLn + LLa),
    )
    S = inter("S_stim", A / (A + EC50_A))
    # Killing per target saturates in effectors and is limited by the effector-to-target
    # ratio (each effector kills at most about q_ET targets per 1/gamma_kill days), so a small
    # unexpanded graft cannot clear a large B-cell pool at once (ratio-dependent killing).
    kill = inter("kill_sat", gamma_kill * E / (K_kill + E + A / q_ET))
    L = inter("L_tot", N + KA + K0 + C)
    Phi = inter("Phi", (1 + kappa_Phi) / (1 + kappa_Phi * L / L_ss))
    Phi_ex = inter("Phi_excess", smooth_pos(Phi - 1, eps_Phi))
    G = inter("G_niche", K_T / (K_T + C))
    # Quadratic in C so the factor has no pole when round-off makes C slightly negative.
    ext = inter("extinction", C**2 / (C**2 + C_ext**2))
    g_G = inter("g_graft", C / (C + K_G))
    # NK cells that can kill HLA-I-negative grafts: HLA-E inhibits the NKG2A+ subset.
    nk_active = inter("NK_active", (KA * (1 - p_HLAE * e_HLAE) + K0) / K_ss)
    # Rejection of donor cells (host T against allo-antigen, NK missing-self) is separate
    # from anti-CAR immunity, which also acts on autologous cells (redosing).
    R_allo = inter("R_allo", k_Trej * m_allo * H + k_NKrej * (1 - p_HLAI) * nk_active)
    R_car = inter("R_car", k_Crej * imm_CAR * Hc)
    R_rej = inter("R_rej", R_allo + R_car)
    ld_N = inter("ld_N", kf_N * Dflu + kc_N * Dcy)
    ld_K = inter("ld_K", kf_K * Dflu + kc_K * Dcy)
    ld_B = inter("ld_B", kf_B * Dflu + kc_B * Dcy)
    ld_PB = inter("ld_PB", kf_PB * Dflu + kc_PB * Dcy)
    B_tot = inter("B_tot", Bn + Bm + Ba)
    infl = inter("infl_gain", 1 + w_I * (I - 1))
    # Autoreactive clones renew themselves (logistic towards baseline) only while enough of
    # them survive: depletion by orders of magnitude extinguishes the clones ("immune reset",
    # Mackensen 2022, Tur 2024), whereas a shallow or brief depletion regrows within weeks.
    ext_a = inter("clone_survival", Ba**2 / (Ba**2 + (x_a * Ba_0) ** 2))
    # CAR-T killing flux (cells/day); the killing burst, not the number of effectors,
    # activates monocytes and macrophages, which make the IL-6 (saturating: a ceiling).
    flux = inter("kill_flux", kill * A)
    supp = inter("IL6_supp", Emax_IL6 * (IL6 - IL6_0) / (IL6 - IL6_0 + IL6_50))
    drug_N = inter("drug_N", slope_flu_N * Dflu + slope_cy_N * Dcy + supp)
    # G-CSF given while ANC is below ANC_gcsf: a logistic switch 10% of ANC_gcsf wide,
    # smooth for the solver.
    gcsf = inter("gcsf_effect", E_gcsf * GCSF / (1 + sp.exp(10 * (ANC - ANC_gcsf) / ANC_gcsf)))
    drug_P = inter("drug_P", slope_flu_P * Dflu + slope_cy_P * Dcy + supp)

    kill_P = inter("kill_P", kill * r_P * tau_BM * P)
    kill_Bn = inter("kill_Bn", kill * r_B * Bn)
    kill_Bm = inter("kill_Bm", kill * r_B * Bm)
    kill_Ba = inter("kill_Ba", kill * r_B * Ba)
    kill_PBn = inter("kill_PBn", kill * r_PB * PBn)
    kill_PBa = inter("kill_PBa", kill * r_PB * PBa)
    # Long-lived plasma cells in protected survival niches (share phi_niche) are out of
    # the product's reach: BCMA-directed killing stops at that floor.
    kill_LLn = inter(
        "kill_LLn", kill * r_LL * tau_BM * smooth_pos(LLn - phi_niche * LLn_0, eps_fb * LLn_0)
    )
    kill_LLa = inter(
        "kill_LLa", kill * r_LL * tau_BM * smooth_pos(LLa - phi_niche * LLa_0, eps_fb * LLa_0)
    )

    # ---- ODEs ------------------------------------------------------------------------
    odes = {
        "E": rho_E * theta_Phi * Phi_ex * S * G * ext * E
        + k_ME * S * M
        - (delta_E + k_EM * (1 - S) + k_EX * S + R_rej) * E,
        "M": k_EM * (1 - S) * E
        + rho_M * (1 + theta_Phi * (Phi - 1)) * G * ext * M
        - (k_ME * S + delta_M + R_rej) * M,
        "X": k_EX * S * E - (delta_X + R_rej) * X,
        # Gompertz recovery towards capacity; CAR-T share the T-cell space (Kimmel 2021).
        "N": r_N * N * sp.log(K_N / (N + C)) * (1 + theta_NPhi * (Phi - 1)) - ld_N * N,
        "KA": r_K * KA * sp.log(KA_ss / KA)
        - ld_K * KA
        - k_NKG2A * u_NKG2A * KA * (E + M) / (E + M + K_NKG2A),
        "K0": r_K * K0 * sp.log(K0_ss / K0) - ld_K * K0,
        "H": (N / K_N) * g_G * (rho_H * H * (1 - H) + k_H0) - delta_H * (H - H0) * (1 - g_G),
        "Hc": imm_CAR * (N / K_N) * g_G * (rho_C * Hc * (1 - Hc) + k_C0)
        - delta_C * (Hc - C0) * (1 - g_G),
        "P": s_P
        * (1 + F_fb * smooth_pos(1 - B_tot / B_ss, eps_fb))
        / (1 + F_fb * smooth_pos(0, eps_fb))
        - (k_mat + delta_P) * P
        - kill_P
        - ld_B * P,
        "Bn": k_mat * P - (nu_n + k_act * infl + k_brk * infl**2) * Bn - kill_Bn - ld_B * Bn,
        "Bm": f_mem * k_act * infl * Bn - nu_m * Bm - kill_Bm - ld_B * Bm,
        "Ba": k_brk * infl**2 * Bn
        + r_a * ext_a * Ba * (1 - Ba / Ba_0)
        - nu_a * Ba
        - kill_Ba
        - ld_B * Ba,
        "PBn": (1 - f_mem) * k_act * infl * Bn
        + k_PBm * Bm
        - (delta_PB + k_LL) * PBn
        - kill_PBn
        - ld_PB * PBn,
        "PBa": k_PBa * Ba - (delta_PB + k_LL) * PBa - kill_PBa - ld_PB * PBa,
        "LLn": k_LL * PBn - delta_LL * LLn - kill_LLn,
        "LLa": k_LL * PBa - delta_LL * LLa - kill_LLa,
        "IgG": k_IgG
        * IgG0
        * (q_IgG * (PBn + PBa) / (PBn_0 + PBa_0) + (1 - q_IgG) * (LLn + LLa) / (LLn_0 + LLa_0))
        - k_IgG * IgG,
        "Ab": p_PB * PBa + p_LL * LLa - k_Ab * Ab,
        "C3": k_C3 * C3_norm - k_C3 * C3 * (1 + kappa_C3 * (Ab / Ab0) ** h_C),
        "C4": k_C4 * C4_norm - k_C4 * C4 * (1 + kappa_C4 * (Ab / Ab0) ** h_C),
        "I": k_I * (w_Ab * (Ab / Ab0) ** h_I + w_Ba * (Ba + PBa) / (Ba_0 + PBa_0) + w_0) - k_I * I,
        # Myeloid activation follows the killing burst with a delay of about 1/k_mye days, so
        # the IL-6 peak and the CRS it grades come days after the infusion, not at it.
        # Squared flux: the burst of the first days activates them, the steady trickle of
        # precursors killed during months of aplasia does not (no IL-6 plateau).
        "Mye": k_mye * (flux**2 / (flux**2 + Z50_IL6**2) - Mye),
        "IL6": k_IL6 * (IL6_0 - IL6) + p_IL6 * Mye,
        # First-order elimination; below trace amounts (D_trace) it slows down so exposure
        # never reaches subnormal floating-point numbers, which are slow on CPUs and make
        # CVODE's error test fail. The effect on any read-out is below 1e-12 mg/m2.
        "Dflu": -k_flu * Dflu * Dflu / (Dflu + D_trace),
        "Dcy": -k_cy * Dcy * Dcy / (Dcy + D_trace),
        "ProlN": k_trN * ProlN * ((1 - drug_N) * (ANC0 / ANC) ** gamma_N + gcsf) - k_trN * ProlN,
        "Tr1N": k_trN * (ProlN - Tr1N),
        "Tr2N": k_trN * (Tr1N - Tr2N),
        "Tr3N": k_trN * (Tr2N - Tr3N),
        "ANC": k_trN * (Tr3N - ANC),
        "ProlP": k_trP * ProlP * (1 - drug_P) * (PLT0 / PLT) ** gamma_P - k_trP * ProlP,
        "Tr1P": k_trP * (ProlP - Tr1P),
        "Tr2P": k_trP * (Tr1P - Tr2P),
        "Tr3P": k_trP * (Tr2P - Tr3P),
        "PLT": k_trP * (Tr3P - PLT),
        "GCSF": sp.Integer(0),
    }
    missing = set(names) ^ set(odes)
    if missing:  # pragma: no cover - guards edits of this file
        raise RuntimeError(f"states without equations or equations without states: {missing}")

    car_blood = f_blood_C * C / V_blood
    t_blood = f_blood_T * N / V_blood
    observables = (
        Observable("car_t_cells_per_ul", "cells/uL", "CAR-T cells in blood (flow)", car_blood),
        Observable(
            "car_pct_of_t",
            "%",
            "CAR+ share of T cells in blood (flow)",
            100 * car_blood / (car_blood + t_blood),
        ),
        Observable(
            "transgene_copies_per_ug",
            "copies/ug DNA",
            "CAR transgene in blood (qPCR); see the LLOQ flag",
            TransC * car_blood * 1e6,
        ),
        Observable(
            "b_cells_per_ul",
            "cells/uL",
            "CD19+ B cells in blood (flow)",
            f_blood_B * (Bn + Bm + Ba + a_PBdetect * (PBn + PBa)) / V_blood,
        ),
        Observable("anti_dsdna_iu_per_ml", "IU/mL", "anti-dsDNA", Ab),
        Observable("c3_g_per_l", "g/L", "complement C3", C3),
        Observable("c4_g_per_l", "g/L", "complement C4", C4),
        Observable("igg_g_per_l", "g/L", "total IgG", IgG),
        Observable("il6_pg_per_ml", "pg/mL", "IL-6", IL6),
        Observable("anc_1e9_per_l", "1e9/L", "absolute neutrophil count", ANC),
        Observable(
            "lymphocytes_1e9_per_l",
            "1e9/L",
            "absolute lymphocyte count",
            (
                t_blood
                + f_blood_K * (KA + K0) / V_blood
                + car_blood
                + f_blood_B * (Bn + Bm + Ba) / V_blood
            )
            / 1000,
        ),
        Observable("platelets_1e9_per_l", "1e9/L", "platelet count", PLT),
        Observable("sle_activity", "1", "latent SLE inflammatory activity (1 = baseline)", I),
    )
    return ModelDefinition(
        states=states,
        derived=d,
        initial=initial,
        intermediates=it,
        odes=odes,
        observables=observables,
        # IL-6 clearance (|lambda| = k_IL6, 3.3-4.6/day) is the only mode faster than about
        # 1.3/day in the quiet phase (Jacobian eigenvalues along simulated trajectories).
        exact_decay="IL6",
    )


MODEL: ModelDefinition = _build()
"""The allocart SLE CAR-T model (36 states)."""
