// Residual covariance structures (MMRM): a model whose residuals are correlated
// within subjects, cov(e_s) = sigma^2 V_g[visits of s, visits of s] for subject s in
// covariance group g. For given V_g the rows of each subject are whitened by the
// Cholesky factor of their V, which turns the model into one with independent
// residuals: generalized least squares without random-effect terms, the blocked
// engine (BlockedModel) on the whitened [Z X y] with them.
#ifndef LEMMA_COVSTRUCT_H
#define LEMMA_COVSTRUCT_H

#include <vector>

#include "model.h"

namespace lemma {

// The data as R hands them over, rows sorted by subject (then visit).
struct CovStructData {
  MatrixXd X;                   // n x p fixed-effects matrix
  VectorXd y;                   // response, offset removed
  std::vector<TermData> terms;  // random-effect terms, not whitened (may be empty)
  std::vector<int> start;       // subject s owns rows start[s] .. start[s + 1] - 1 (size nsubj + 1)
  Eigen::VectorXi visit;        // 0-based visit of each row
  std::vector<int> pattern;     // per subject: its (group, set of visits) pattern, 0-based
  std::vector<int> pattern_group;  // per pattern: its covariance group, 0-based
  std::vector<int> pattern_first;  // per pattern: a subject that has it
  int nsubj() const { return static_cast<int>(start.size()) - 1; }
};

// The whitened data for one set of V_g, and sum_s log|V_s| (the Jacobian of the
// whitening, which the criterion adds).
struct Whitened {
  MatrixXd X;
  VectorXd y;
  std::vector<TermData> terms;
  double logdet = 0;
  std::vector<MatrixXd> chol;  // per pattern: lower Cholesky factor of its V
};

// Whitens every subject's rows of X, y and the term matrices by the lower Cholesky
// factor of V_g restricted to the subject's visits (one factorization per pattern).
// Throws if a V is not positive definite.
Whitened whiten(const CovStructData& d, const std::vector<MatrixXd>& V);

// Generalized least squares on whitened data: the factor of [X y]'[X y].
struct GlsSolution {
  MatrixXd RX;       // p x p lower, RX RX' = X'X (whitened)
  VectorXd beta;
  double ldRX2 = 0;  // log |RX|^2
  double pwrss = 0;  // residual sum of squares (whitened)
};
GlsSolution gls_solve(const Whitened& w);

// The gradient of the GLS criterion in the entries of each group's V: with
// a_s = V_s^-1 (y_s - X_s beta), B_s = V_s^-1 X_s and P = X'V^-1 X,
//   d crit = sum_g < W_g, dV_g >,
//   W_g = sum over subjects s of g, placed at their visits, of
//         V_s^-1 - c a_s a_s' [ - B_s P^-1 B_s'  for REML ],
// c = nmp / pwrss for the criterion with sigma^2 profiled out, 1 / sigma2 for the
// deviance at a given sigma2 > 0. The gradient in any parametrization of V costs
// one pass over the data.
std::vector<MatrixXd> gls_gradient_weights(const CovStructData& d, const Whitened& w, const GlsSolution& s,
                                           int ngroups, int nvisits, bool reml, double sigma2 = 0);

// The expected information (Fisher) of the same criterion in the entries of the
// V_g, sigma^2 profiled out: with E_ab = e_a e_b' placed at visits a, b of group g
// (index g m^2 + a + b m, vec order) and P the REML projection (V^-1 for ML),
//   F[ab, cd] = tr(P E_ab P E_cd) - tr(P E_ab) tr(P E_cd) / nmp,
// the second term the Schur complement of log sigma^2 (its information is nmp).
// tr(P E P E) splits into per-pattern sums of V_s^-1 and H_s H_s' pieces and one
// p x p trace per pair of visit pairs (H_s = V_s^-1 X_s RX^-T), so it costs one
// pass over the data plus O((g m^2)^2 p^2). The information in any
// parametrization of V is J' F J, J = d vec(V) / d parameters.
MatrixXd gls_information(const CovStructData& d, const Whitened& w, const GlsSolution& s, int ngroups,
                         int nvisits, bool reml);

}  // namespace lemma

#endif
