// Products with C (x) I_p for a matrix whose rows or columns are indexed by
// (level, coefficient) pairs, level-major: the relationship-matrix transforms.
#ifndef LEMMA_KRON_H
#define LEMMA_KRON_H

#include <RcppEigen.h>

namespace lemma {

// M = (C (x) I_p) M, C square with one row per level.
inline void kron_left(Eigen::MatrixXd& M, const Eigen::MatrixXd& C, int p) {
  if (p == 1) {
    M = (C * M).eval();
    return;
  }
  typedef Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic> Str;
  for (int a = 0; a < p; ++a) {
    Eigen::Map<Eigen::MatrixXd, 0, Str> rows(M.data() + a, C.cols(), M.cols(), Str(M.rows(), p));
    Eigen::MatrixXd tmp = C * rows;
    rows = tmp;
  }
}

// M = M (C (x) I_p).
inline void kron_right(Eigen::MatrixXd& M, const Eigen::MatrixXd& C, int p) {
  if (p == 1) {
    M = (M * C).eval();
    return;
  }
  typedef Eigen::OuterStride<> Str;
  for (int a = 0; a < p; ++a) {
    Eigen::Map<Eigen::MatrixXd, 0, Str> cols(M.data() + a * M.rows(), M.rows(), C.rows(), Str(M.rows() * p));
    Eigen::MatrixXd tmp = cols * C;
    cols = tmp;
  }
}

}  // namespace lemma

#endif
