# The shared argument checkers name the function and the argument at fault.
test_that("checkers name the function and argument", {
  chk <- lemma:::check_dots_unused
  expect_warning(chk(list(foo = 1), "predict"), "predict\\(\\): argument 'foo' is not supported")
  expect_error(chk(list(1, b = 2), "f", error = TRUE), "arguments '<unnamed argument 1>', 'b'")
  expect_true(chk(list(), "f"))
  expect_error(lemma:::check_flag(NA, "REML", "lmm"), "lmm\\(\\): 'REML' must be TRUE or FALSE")
  expect_error(lemma:::check_flag(c(TRUE, FALSE), "REML", "lmm"), "'REML'")
  expect_error(lemma:::check_flag("yes", "REML", "lmm"), "'REML'")
  expect_identical(lemma:::check_choice("Kenw", c("Satterthwaite", "Kenward-Roger"), "ddf", "f"), "Kenward-Roger")
  expect_error(lemma:::check_choice("x", c("a", "b"), "type", "f"), "'type' = \"x\" is not one of \"a\", \"b\"")
  expect_error(lemma:::check_number(0, "nsim", "confint", lower = 1, integer = TRUE), "'nsim' must be a single finite whole number >= 1")
  expect_error(lemma:::check_number(Inf, "x", "f"), "'x' must be a single finite number")
  expect_identical(lemma:::check_number(2, "x", "f", 1, 3), 2)
})

test_that("check_level, check_range and check_matrix name the function and argument", {
  expect_identical(lemma:::check_level(0.9, "f"), 0.9)
  for (bad in list(0, 1, -0.1, 95, NA_real_, "0.9", c(0.9, 0.95)))
    expect_error(lemma:::check_level(bad, "confint"), "confint\\(\\): 'level' must be a single number strictly between 0 and 1")
  rng <- lemma:::check_range
  expect_identical(rng(c(1e-5, 1e5), "lambda_range", "lmm_scan", lower = 0), c(1e-5, 1e5))
  expect_error(rng(c(10, 1), "r", "f"), "f\\(\\): 'r' must be two finite increasing numbers")
  expect_error(rng(c(0, 1), "r", "f", lower = 0), "'r' must be two finite increasing numbers, above 0")
  expect_error(rng(c(1, Inf), "r", "f"), "'r' must be two finite")
  expect_error(rng(c(1, NA), "r", "f"), "'r'")
  expect_error(rng(1:3, "r", "f"), "'r'")
  expect_error(rng(c(1.1, 2), "limits", "gmr", lower = 0, contains = 1), "the first below 1 and the second above")
  expect_identical(rng(c(0.8, 1.25), "limits", "gmr", lower = 0, contains = 1), c(0.8, 1.25))
  mat <- lemma:::check_matrix
  expect_identical(mat(c(0, 1), "L", "contest", ncol = 2, vector_ok = TRUE), matrix(c(0, 1), 1))
  expect_error(mat(c(0, 1), "L", "contest"), "contest\\(\\): 'L' must be a numeric matrix$")
  expect_error(mat(diag(2), "L", "contest", ncol = 3), "'L' has 2 column\\(s\\); it needs 3")
  expect_error(mat(matrix(1, 2, 3), "K", "f", square = TRUE), "'K' must be a square matrix \\(it is 2 x 3\\)")
  expect_error(mat(matrix(c(1, NA), 1), "L", "f"), "'L' has missing or infinite values")
  expect_error(mat(matrix("a"), "L", "f"), "'L' must be a numeric matrix")
  expect_true(is.matrix(mat(Matrix::Diagonal(2), "K", "f", square = TRUE)))
})

test_that("check_fit names the function and what it was given", {
  expect_error(lemma:::check_fit(lm(dist ~ speed, cars), "gmr"), "gmr\\(\\): 'fit' must be a model fitted by lmm\\(\\) \\(it is of class lm\\)")
  expect_error(lemma:::check_fit(NULL, "icc"), "icc\\(\\): 'fit' must be a model fitted by lmm\\(\\) \\(it is a NULL\\)")
})
