// Block storage and the kernels of the blocked Cholesky factorization.
//
// The matrix [Z Lambda, X, y]' W [Z Lambda, X, y] + diag(I, 0) is held as a lower
// triangle of blocks: one block row/column per random-effect term (its rows index
// (level, coefficient) pairs, level-major) and a last one for [X y]. Each block is
// stored in the cheapest form its pattern allows, and each kernel below is written
// once per storage case so that no kernel ever forms a dense copy of a sparse block.
#ifndef LEMMA_BLOCKS_H
#define LEMMA_BLOCKS_H

#include <RcppEigen.h>

namespace lemma {

using Eigen::MatrixXd;
using Eigen::VectorXd;
typedef Eigen::SparseMatrix<double, Eigen::ColMajor, int> SpMat;

enum class BlockKind {
  Diagonal,       // square, diagonal: `diag` holds nrow values
  BlockDiagonal,  // square, nrow / p diagonal p x p blocks: `bd` is p x nrow
  Sparse,         // `sp`; row and column sets come in whole (level x coefficient) blocks
  Dense           // `dense`; for a factored diagonal block only the lower triangle is used
};

struct Block {
  BlockKind kind = BlockKind::Dense;
  int nrow = 0, ncol = 0;
  int p = 1;        // coefficient block size of the rows (BlockDiagonal, Sparse)
  int pc = 1;       // coefficient block size of the columns (Sparse)
  VectorXd diag;
  MatrixXd bd;
  SpMat sp;
  MatrixXd dense;

  static Block make_diagonal(int n);
  static Block make_block_diagonal(int nlev, int p);
  static Block make_dense(int nrow, int ncol);
  // The p x p diagonal block of level k of a BlockDiagonal block.
  Eigen::Block<MatrixXd> level(int k) { return bd.block(0, k * p, p, p); }
  Eigen::Block<const MatrixXd> level(int k) const { return bd.block(0, k * p, p, p); }
  // Dense copy, for tests and small problems only.
  MatrixXd to_dense() const;
};

// L = Lambda_r' A Lambda_c + (inflate ? I : 0), where Lambda = I_levels (x) lambda.
// A null lambda stands for the identity (the [X y] block). Used for diagonal blocks
// (inflate = true, lambda_r = lambda_c) and off-diagonal blocks (inflate = false).
// L's kind may differ from A's only when A is (block) diagonal and L is Dense (fill).
void scale_inflate(Block& L, const Block& A, const MatrixXd* lambda_r,
                   const MatrixXd* lambda_c, bool inflate);

// C -= A B'  (C = L_ij, A = L_ik, B = L_jk). When C is a diagonal block the caller
// passes A and B as the same block; only C's lower triangle is then kept exact.
void rank_update(Block& C, const Block& A, const Block& B, bool diagonal_target);

// In-place lower Cholesky factor of a diagonal block. Throws if not positive definite.
void cholesky(Block& L, const char* what, int threads = 1);

// B = B L^{-T}, L a factored diagonal block.
void rdiv_lower_t(Block& B, const Block& L);

// Solves L x = b (transpose = false) or L' x = b (transpose = true) in place, for a
// factored diagonal block L and a dense right-hand side with L.nrow rows.
void solve_lower(const Block& L, MatrixXd& x, bool transpose);

// y -= B x (transpose = false) or y -= B' x (transpose = true).
void mult_sub(const Block& B, const MatrixXd& x, MatrixXd& y, bool transpose);

// log of the squared determinant of a factored diagonal block: 2 sum log diag.
double logdet2(const Block& L);

}  // namespace lemma

#endif
