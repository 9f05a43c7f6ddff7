// One random-effect term as R hands it to C++ (a list with 1-based level codes,
// the term's model matrix X, its number of levels nlev and, for a relmat term,
// the relationship factor relchol) converted to lemma::TermData. Shared by the
// blocked model and the residual-covariance model so both read terms alike.
#pragma once

#include <RcppEigen.h>

#include "model.h"

namespace lemma {

inline TermData term_data_from_r(const Rcpp::List& tm) {
  TermData d;
  Rcpp::IntegerVector codes = tm["codes"];
  d.codes.resize(codes.size());
  for (int i = 0; i < codes.size(); ++i) d.codes[i] = codes[i] - 1;
  d.X = Rcpp::as<Eigen::MatrixXd>(tm["X"]);
  d.nlev = Rcpp::as<int>(tm["nlev"]);
  if (tm.containsElementNamed("relchol")) {
    SEXP rc = tm["relchol"];
    if (!Rf_isNull(rc)) {
      d.has_relmat = true;
      d.relchol = Rcpp::as<Eigen::MatrixXd>(rc);
    }
  }
  return d;
}

}  // namespace lemma
