# Bad input gets an R error that names the problem; nothing crashes or hangs.

d <- data.frame(y = rnorm(40), x = rnorm(40), g = factor(rep(1:8, 5)), h = factor(rep(1:4, 10)))

test_that("a formula without random effects is refused", {
  expect_error(lmm(y ~ x, d), "no random-effect term")
})

test_that("a grouping factor that is missing or has NA levels is named", {
  expect_error(lmm(y ~ x + (1 | nothere), d), "grouping variable 'nothere'")
  d2 <- d; d2$g[3] <- NA
  expect_error(lmm(y ~ x + (1 | g), d2, na.action = na.pass), "grouping factor 'g' has missing values")
  expect_equal(nobs(lmm(y ~ x + (1 | g), d2)), 39L)
})

test_that("a non-numeric response is refused", {
  d2 <- d; d2$y <- letters[1:20][rep(1:20, 2)]
  expect_error(lmm(y ~ x + (1 | g), d2), "response 'y' must be a numeric")
  d3 <- d; d3$y <- factor(rep(1:2, 20))
  expect_error(lmm(y ~ x + (1 | g), d3), "response 'y' must be a numeric")
})

test_that("more random effects than observations, and one level per observation, are refused", {
  d2 <- data.frame(y = rnorm(10), x = rnorm(10), g = factor(rep(1:5, 2)))
  expect_error(lmm(y ~ x + (1 + x | g) + (1 | obs), transform(d2, obs = factor(1:10))), "'obs' has 10 levels for 10 observations")
  d3 <- data.frame(y = rnorm(6), x = rnorm(6), z = rnorm(6), g = factor(rep(1:3, 2)))
  expect_error(lmm(y ~ 1 + (1 + x + z | g), d3), "more than the 6 observations")
})

test_that("a grouping factor with a single level is refused", {
  d2 <- d; d2$one <- factor("a")
  expect_error(lmm(y ~ x + (1 | one), d2), "'one' has a single level")
})

test_that("non-finite values are named", {
  d2 <- d; d2$y[2] <- Inf
  expect_error(lmm(y ~ x + (1 | g), d2), "response 'y' has non-finite values")
  d3 <- d; d3$x[5] <- Inf
  expect_error(lmm(y ~ x + (1 | g), d3), "non-finite values in column\\(s\\) 'x'")
  expect_error(lmm(y ~ 1 + (x | g), d3), "model matrix of \\(x \\| g\\) has non-finite values in column\\(s\\) 'x'")
})

test_that("negative, zero or wrong-length weights are refused", {
  w <- rep(1, 40); w[4] <- -1
  expect_error(lmm(y ~ x + (1 | g), d, weights = w), "'weights' has negative values")
  w[4] <- 0
  expect_error(lmm(y ~ x + (1 | g), d, weights = w), "'weights' has zeros")
  expect_error(lmm(y ~ x + (1 | g), d, weights = rep(1, 3)), "variable lengths differ|one value per observation")
})

test_that("relationship matrices that do not fit are named", {
  ids <- levels(d$g)
  K <- diag(8); dimnames(K) <- list(ids, ids)
  Kbad <- K; Kbad[1, 2] <- 0.5
  expect_error(lmm(y ~ x + (1 | g), d, relmat = list(g = Kbad)), "relmat\\$g is not symmetric")
  Kneg <- K; Kneg[1, 1] <- -1
  expect_error(lmm(y ~ x + (1 | g), d, relmat = list(g = Kneg)), "relmat\\$g is not positive semi-definite")
  Kmiss <- K[-8, -8]
  expect_error(lmm(y ~ x + (1 | g), d, relmat = list(g = Kmiss)), "no rows for 1 level\\(s\\) of 'g': 8")
  expect_error(lmm(y ~ x + (1 | g), d, relmat = list(zz = K)), "relmat names 'zz'")
  expect_error(lmm(y ~ x + (1 | g), d, relmat = list(g = unname(K))), "needs dimnames")
})

test_that("prediction at unknown levels is an error unless allowed", {
  fit <- lmm(y ~ x + (1 | g), d)
  nd <- data.frame(x = 0, g = "99")
  expect_error(predict(fit, nd), "new levels in newdata for the grouping factor 'g': 99")
  expect_equal(unname(predict(fit, nd, allow.new.levels = TRUE)), unname(fixef(fit)[1]))
})

test_that("a C++ model lost by saving and reloading is rebuilt", {
  fit <- lmm(y ~ x + (1 | g), d)
  f <- tempfile(fileext = ".rds")
  saveRDS(fit, f)
  fit2 <- readRDS(f)
  re1 <- as.data.frame(ranef(fit, condVar = TRUE))
  re2 <- as.data.frame(ranef(fit2, condVar = TRUE))
  expect_equal(re2$condsd, re1$condsd, tolerance = 1e-12)
})
