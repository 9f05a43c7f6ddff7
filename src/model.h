// The blocked linear mixed model: the cross-product blocks A (formed once from the
// data) and the blocked lower Cholesky factor L (updated for each theta).
#ifndef LEMMA_MODEL_H
#define LEMMA_MODEL_H

#include <vector>

#include "blocks.h"

namespace lemma {

// One random-effect term as R hands it over: a level code per observation and the
// term's n x p model matrix, both already multiplied by the square root of the prior
// weights. A known relationship matrix K = C C' over the levels makes the term's
// relative factor C (x) lambda instead of I (x) lambda.
struct TermData {
  Eigen::VectorXi codes;  // 0-based level of each observation
  MatrixXd X;             // n x p
  int nlev = 0;
  bool has_relmat = false;
  MatrixXd relchol;       // nlev x nlev lower-triangular C, when has_relmat
  int p() const { return static_cast<int>(X.cols()); }
  int q() const { return nlev * p(); }
};

class BlockedModel {
 public:
  // X: n x p fixed-effects matrix, y: response (both weighted, offset removed).
  BlockedModel(std::vector<TermData> terms, const MatrixXd& X, const VectorXd& y, int threads = 1);

  int nterms() const { return static_cast<int>(terms_.size()); }
  int nfixed() const { return p_; }
  int nobs() const { return n_; }
  int ntheta() const;

  // Replace the response (weighted, offset removed) in the cross-products, keeping
  // everything that depends only on the design: the cheap refit to a new response.
  // X must be the weighted fixed-effects matrix the model was built with.
  void replace_response(const MatrixXd& X, const VectorXd& y);

  // Refactor L for a new theta (column-wise lower triangles of each term's lambda).
  void update(const VectorXd& theta);

  // Quantities of the current factor.
  double ldL2() const;
  double ldRX2() const;
  double pwrss() const;
  // Profiled deviance (REML criterion or -2 log-likelihood), prior weights ignored.
  double objective(bool reml) const;

  VectorXd beta() const;
  // Spherical random effects u, per term, and b = Lambda u.
  std::vector<VectorXd> u() const;
  std::vector<VectorXd> b(const std::vector<VectorXd>& u) const;
  // The p x p lower factor R_X' of the fixed-effects block (cov(beta) = s^2 (R R')^-1).
  MatrixXd rx() const;
  // Conditional covariance of b for term t divided by sigma^2, as p x (p * nlev)
  // diagonal blocks side by side (level-major), conditional on beta.
  MatrixXd condvar(int t) const;
  // Forward solve with the random-effects part of the factor, in place: Y[i] for
  // block rows i = first..T-1 becomes the solution of L_Z Y = Y, the blocks before
  // `first` being zero (they are not read). Y holds one matrix per term.
  void forward_solve(std::vector<MatrixXd>& Y, int first) const;

  // The blocks, for tests: the full lower factor as a dense matrix, and kinds.
  MatrixXd dense_factor() const;
  std::vector<int> block_kinds() const;
  const Block& A(int i, int j) const { return A_[index(i, j)]; }
  const Block& L(int i, int j) const { return L_[index(i, j)]; }
  // Read access for the derivative code (src/derivatives.cpp): a term's data, its
  // current relative factor lambda_t and the row count of block row i.
  const TermData& term(int t) const { return terms_[t]; }
  const MatrixXd& lambda(int t) const { return lambda_[t]; }
  int block_size(int i) const { return size(i); }
  // OpenMP threads the model was built with (the dense factorization's and the
  // selected inverse's).
  int threads() const { return threads_; }

 private:
  int index(int i, int j) const { return i * (i + 1) / 2 + j; }
  int size(int i) const { return i < nterms() ? terms_[i].q() : p_ + 1; }
  const MatrixXd* lambda_ptr(int i) const { return i < nterms() ? &lambda_[i] : nullptr; }
  void build_cross_products(const MatrixXd& X, const VectorXd& y);
  void apply_relmat(int t);
  void layout_factor();

  std::vector<TermData> terms_;
  // theta of the current factor, when it is complete: the optimizer asks for the
  // criterion and then the gradient at the same point, and the second update is
  // skipped (same bits: nothing else changes L).
  VectorXd factored_theta_;
  bool factored_ = false;
  int n_, p_;
  int threads_;  // OpenMP threads for the largest dense factorizations
  std::vector<MatrixXd> lambda_;
  std::vector<Block> A_, L_;
};

}  // namespace lemma

#endif
