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
