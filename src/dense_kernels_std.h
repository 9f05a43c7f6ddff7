// Every standard header that Eigen's Core and Cholesky modules and
// dense_kernels_body.h include, for the files that compile the kernels under a
// target pragma: included before the pragma, so that nothing the linker may share
// with other files (the standard library's inline and template functions, emitted
// as weak symbols) is ever compiled for an instruction set the CPU may lack. After
// the pragma their include guards make Eigen's own includes of them no-ops.
#ifndef LEMMA_DENSE_KERNELS_STD_H
#define LEMMA_DENSE_KERNELS_STD_H

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iosfwd>
#include <iostream>
#include <limits>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#endif
