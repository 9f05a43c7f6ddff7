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

}  // namespace lemma

#endif
