// Exact derivatives of the fixed-effects covariance and of the (non-profiled)
// REML/ML deviance with respect to theta, from the blocked factor of a
// BlockedModel (small-sample inference: Satterthwaite and Kenward-Roger).
//
// Notation (weighted data, relationship matrices absorbed into Z): V = I + Z Lambda
// Lambda' Z', M = Lambda' Z'Z Lambda + I = L L' (the random-effects part of the
// blocked factor), U = Z' V^{-1} [X y] (q x (p + 1)). No n x n matrix is formed.
#ifndef LEMMA_DERIVATIVES_H
#define LEMMA_DERIVATIVES_H

#include <vector>

#include "model.h"

namespace lemma {

// U = Z' V^{-1} [X y] = A_Z,Xy - A_ZZ Lambda M^{-1} Lambda' A_Z,Xy, with the
// M^{-1} Lambda' A_Z,Xy part read off the [X y] block row of the factor and one
// blocked backward solve (p + 1 columns).
MatrixXd vinv_xy(const BlockedModel& m);

// dQ_i = d/dtheta_i of Q = [X y]' V^{-1} [X y], i.e. -U' D_i U with D_i =
// dLambda/dtheta_i Lambda' + Lambda dLambda'/dtheta_i; one (p+1) x (p+1) matrix per
// theta, stacked side by side. Cost O(q p^2) per parameter.
MatrixXd dQ_dtheta(const BlockedModel& m, const MatrixXd& U);

// d log|M| / dtheta_i = tr(V^{-1} dV_i) = 2 sum over levels of
// (A_ZZ Lambda M^{-1})_(level, level)[r, c] for theta_i at (r, c) of its lambda.
// Columns of M^{-1} are formed a chunk of levels at a time (as condvar()).
VectorXd dlogdetM_dtheta(const BlockedModel& m);

// The average-information approximation (AI-REML) of the Hessian of the profiled
// criterion (REML criterion or -2 log-likelihood) in theta, k x k: with e the
// residual V^{-1}(y - X beta), w_i = dV_i e and P the REML projection (V^{-1} for
// ML), (nmp / pwrss) w_i' P w_j - nmp (e'w_i)(e'w_j) / pwrss^2, the second term
// profiling out sigma^2. Every w_i lies in the column space of Z, so it costs k
// products with A_ZZ and k forward solves with the factor, no inverse: a small
// fraction of a gradient. Near the optimum it approaches the Hessian (the terms it
// drops have expectation zero there); it is positive semidefinite everywhere.
MatrixXd average_information(const BlockedModel& m, const MatrixXd& U, bool reml);

// y += B x (transpose = false) or y += B' x, for blocks of any storage kind
// (diagonal blocks of A are Diagonal, BlockDiagonal or full Dense).
void mult_add(const Block& B, const MatrixXd& x, MatrixXd& y, bool transpose);

}  // namespace lemma

#endif
