// Eigendecomposition of a symmetric matrix by LAPACK's divide-and-conquer
// dsyevd. R's eigen() calls dsyevr, whose eigenvector stage is several times
// slower at the sizes of a relationship matrix (n = 5,000: 75 s against 15 s
// with OpenBLAS on two cores), and the decomposition is the largest fixed
// cost of a spectral fit or a genome scan.
#include "genetics.h"  // R's Fortran-call conventions (FCONE) with Rcpp
#include <R_ext/Lapack.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

// Values in decreasing order (as eigen()), vectors in the same order.
// sym_tol >= 0: first check that K is symmetric to sym_tol * max(1, max|K|)
// (R error otherwise). center: decompose the double-centred K (K minus row
// means minus column means plus the grand mean), as GEMMA does. Both are done
// here, on the one copy that dsyevd overwrites, so that no other n x n
// temporary is made.
// [[Rcpp::export(.sym_eigen, rng = false)]]
Rcpp::List sym_eigen_cpp(Rcpp::NumericMatrix K, bool center = false,
                         double sym_tol = -1.0) {
  const int n = K.nrow();
  if (K.ncol() != n) throw std::runtime_error("the matrix is not square");
  if (sym_tol >= 0) {
    double amax = 1.0, dmax = 0.0;
    for (int j = 0; j < n; ++j)
      for (int i = j; i < n; ++i) {
        amax = std::max(amax, std::fabs(K(i, j)));
        dmax = std::max(dmax, std::fabs(K(i, j) - K(j, i)));
      }
    if (dmax > sym_tol * amax)
      throw std::runtime_error("the relationship matrix is not symmetric");
  }
  Rcpp::NumericMatrix V(n, n);
  std::copy(K.begin(), K.end(), V.begin());
  if (center && n > 0) {
    std::vector<double> rm(n, 0.0);
    double gm = 0.0;
    for (int j = 0; j < n; ++j) {
      double s = 0.0;
      for (int i = 0; i < n; ++i) s += K(i, j);
      rm[j] = s / n;  // column means = row means (symmetric)
      gm += rm[j];
    }
    gm /= n;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i) V(i, j) = K(i, j) - rm[i] - rm[j] + gm;
  }
  Rcpp::NumericVector w(n);
  if (n == 0)
    return Rcpp::List::create(Rcpp::Named("values") = w, Rcpp::Named("vectors") = V);
  int info = 0, lwork = -1, liwork = -1, iwq = 0;
  double wq = 0.0;
  const int lda = std::max(1, n);
  F77_CALL(dsyevd)("V", "L", &n, &V(0, 0), &lda, &w[0], &wq, &lwork, &iwq,
                   &liwork, &info FCONE FCONE);
  if (info != 0) throw std::runtime_error("dsyevd workspace query failed");
  lwork = static_cast<int>(wq);
  liwork = iwq;
  std::vector<double> work(std::max(1, lwork));
  std::vector<int> iwork(std::max(1, liwork));
  F77_CALL(dsyevd)("V", "L", &n, &V(0, 0), &lda, &w[0], work.data(), &lwork,
                   iwork.data(), &liwork, &info FCONE FCONE);
  if (info != 0)
    throw std::runtime_error("the eigendecomposition (LAPACK dsyevd) did not converge");
  // ascending -> decreasing
  double* v = &V(0, 0);
  for (int a = 0, b = n - 1; a < b; ++a, --b) {
    std::swap(w[a], w[b]);
    std::swap_ranges(v + static_cast<long>(a) * n, v + static_cast<long>(a + 1) * n,
                     v + static_cast<long>(b) * n);
  }
  return Rcpp::List::create(Rcpp::Named("values") = w, Rcpp::Named("vectors") = V);
}
