// Entry points of the refit loops (parametric bootstrap, profile): one private copy
// of a model serves all refits, and only its response cross-products change.
#include "model.h"

using lemma::BlockedModel;

namespace {

BlockedModel* refit_model(SEXP ptr) {
  Rcpp::XPtr<BlockedModel> xp(ptr);
  if (xp.get() == nullptr) Rcpp::stop("the model's C++ state is gone (the object was saved and reloaded)");
  return xp.get();
}

}  // namespace

// Replaces the response (weighted, offset removed) of the model in place: X'y, Z'y
// and y'y. The caller owns the model (a copy from .model_with_response), so no fit
// that shares it sees the change.
// [[Rcpp::export(.model_set_response)]]
void model_set_response(SEXP ptr, const Eigen::Map<Eigen::MatrixXd> X, const Eigen::Map<Eigen::VectorXd> y) {
  refit_model(ptr)->replace_response(X, y);
}

// beta and the penalized residual sum of squares at theta: all a replicate's
// default statistics need besides theta (no random effects, no factor copy).
// update = false reads them from the current factor, which the caller knows to be
// at theta (its last evaluation was there): one factorization less per replicate.
// [[Rcpp::export(.model_beta_pwrss)]]
Rcpp::List model_beta_pwrss(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta, bool update = true) {
  BlockedModel* m = refit_model(ptr);
  if (update) m->update(theta);
  return Rcpp::List::create(Rcpp::Named("beta") = m->beta(), Rcpp::Named("pwrss") = m->pwrss());
}

// The responses of a parametric bootstrap, one column per simulation, in one pass
// over the n x nsim values: the random effects (pieces: z, an n-vector, times
// B[map, s], with B an m x nsim matrix of one term column's effects and map the
// 1-based row of B for each observation), then eta, then scale * a standard normal
// when residuals is true. The normals are drawn here in R's order (column by
// column), so they are the values rnorm(n * nsim) would give; the sums are formed
// in the order R's vector arithmetic forms them, so the result is the same to the bit.
// [[Rcpp::export(.simulate_columns)]]
Rcpp::List simulate_columns(const Rcpp::NumericVector eta, const Rcpp::List pieces, int nsim,
                            const Rcpp::NumericVector scale, bool residuals) {
  const R_xlen_t n = eta.size();
  const int np = pieces.size();
  std::vector<const double*> z(np), B(np);
  std::vector<const int*> map(np);
  std::vector<int> m(np);
  for (int k = 0; k < np; ++k) {
    Rcpp::List pc = pieces[k];
    Rcpp::NumericVector zk = pc["z"];
    Rcpp::NumericMatrix Bk = pc["B"];
    Rcpp::IntegerVector mk = pc["map"];
    if (zk.size() != n || mk.size() != n || Bk.ncol() != nsim) Rcpp::stop("simulate_columns(): pieces of the wrong size");
    for (R_xlen_t i = 0; i < n; ++i)
      if (mk[i] < 1 || mk[i] > Bk.nrow()) Rcpp::stop("simulate_columns(): a row index outside its effects");
    z[k] = zk.begin();
    B[k] = Bk.begin();
    map[k] = mk.begin();
    m[k] = Bk.nrow();
  }
  Rcpp::List out(nsim);
  for (int s = 0; s < nsim; ++s) {
    Rcpp::NumericVector col(n);
    for (R_xlen_t i = 0; i < n; ++i) {
      double v = eta[i];
      if (np > 0) {
        double acc = z[0][i] * B[0][map[0][i] - 1 + static_cast<R_xlen_t>(s) * m[0]];
        for (int k = 1; k < np; ++k) acc += z[k][i] * B[k][map[k][i] - 1 + static_cast<R_xlen_t>(s) * m[k]];
        v = acc + eta[i];
      }
      if (residuals) v += R::norm_rand() * scale[i];
      col[i] = v;
    }
    out[s] = col;
    if (s % 16 == 15) Rcpp::checkUserInterrupt();
  }
  return out;
}
