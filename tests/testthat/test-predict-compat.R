# predict(), simulate() and residuals() against lme4 (live) and against hand
# computations (Henderson's mixed-model equations, dense, from lme4's estimates).
#
# Tolerances: lemma's and lme4's optima agree to about 1e-5 relative in theta and
# sigma on these data sets, so predictions (smooth in the estimates) are compared at
# 1e-4 relative of the response's scale, and standard errors at 1e-4 relative.
# Quantities that do not depend on the estimates (which rows, NA, names) are exact.

pen_fits <- function() {
  list(lme4 = lme4::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), lme4::Penicillin),
       lemma = lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
}
sleep_fits <- function(f = Reaction ~ Days + (Days | Subject), data = lme4::sleepstudy, ...) {
  list(lme4 = lme4::lmer(f, data, ...), lemma = lmm(f, data, ...))
}

# Dense Henderson prediction-error standard errors from lme4's fit: rows (Xn, Zn)
# with Zn in the columns of lme4's Z, plus `extra` columns for levels the fit has
# not seen, whose prior covariance (over sigma^2) is Gextra.
henderson_se <- function(fm, Xn, Zn, Gextra = NULL) {
  X <- lme4::getME(fm, "X")
  Z <- as.matrix(lme4::getME(fm, "Z"))
  G <- tcrossprod(as.matrix(lme4::getME(fm, "Lambda")))   # Var(b) / sigma^2
  if (!is.null(Gextra)) {
    q <- ncol(G)
    e <- ncol(Gextra)
    G <- rbind(cbind(G, matrix(0, q, e)), cbind(matrix(0, e, q), Gextra))
    Z <- cbind(Z, matrix(0, nrow(Z), e))
  }
  C <- rbind(cbind(crossprod(X), crossprod(X, Z)), cbind(crossprod(Z, X), crossprod(Z) + solve(G)))
  A <- cbind(Xn, Zn)
  sigma(fm) * sqrt(rowSums((A %*% solve(C)) * A))
}

test_that("re.form selects terms and columns of terms as lme4 does", {
  skip_if_not_installed("lme4")
  pf <- pen_fits()
  sc <- mean(Penicillin$diameter)
  # (~1 | sample) is parsed as (~(1 | sample)); lme4 reads it as (1 | sample)
  rf <- ~ (1 | plate) + (~1 | sample)
  expect_close(predict(pf$lemma, re.form = rf), predict(pf$lme4, re.form = rf), rel = 1e-4, floor = sc)
  expect_close(predict(pf$lemma, re.form = rf), fitted(pf$lemma), rel = 1e-12, floor = sc)
  expect_close(predict(pf$lemma, re.form = ~ (1 | plate)), predict(pf$lme4, re.form = ~ (1 | plate)),
               rel = 1e-4, floor = sc)
  sf <- sleep_fits()
  sc <- mean(sleepstudy$Reaction)
  # a subset of the columns of (Days | Subject)
  for (rf in list(~ (0 + Days | Subject), ~ (1 | Subject), ~ (Days | Subject)))
    expect_close(predict(sf$lemma, re.form = rf), predict(sf$lme4, re.form = rf), rel = 1e-4, floor = sc)
  expect_close(predict(sf$lemma, random.only = TRUE), predict(sf$lme4, random.only = TRUE), rel = 1e-4, floor = sc)
  expect_equal(unname(predict(sf$lemma, random.only = TRUE, re.form = NA)), rep(0, 180))
  expect_identical(predict(sf$lemma, type = "response"), predict(sf$lemma, type = "link"))
  # two terms on one factor, chosen together by one correlated-looking term
  df <- sleep_fits(Reaction ~ Days + (Days || Subject))
  expect_close(predict(df$lemma, re.form = ~ (Days | Subject)), predict(df$lme4, re.form = ~ (Days | Subject)),
               rel = 1e-4, floor = sc)
})

test_that("a bad re.form or an unsupported argument is an error or a warning naming it", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  expect_error(predict(fit, re.form = "abc"), "'re.form'")
  expect_error(predict(fit, re.form = 1), "'re.form'")
  expect_error(predict(fit, re.form = ~ (1 | foo)), "'re.form' names term\\(s\\) not in the model: \\(1 \\| foo\\)")
  expect_error(predict(fit, re.form = ~ (0 + x | Subject)), "'re.form' names term")
  expect_error(predict(fit, re.form = ~ Days), "'re.form' ~Days names no random-effect term")
  expect_error(predict(fit, newparams = list(theta = 1)), "'newparams'")
  expect_error(predict(fit, terms = "Days"), "'terms'")
  expect_error(predict(fit, type = "terms"), "'type'")
  expect_error(predict(fit, interval = "both"), "'interval'")
  expect_error(predict(fit, level = 2), "'level'")
  expect_warning(predict(fit, foo = 1), "'foo' is not supported")
  expect_error(simulate(fit, newparams = list(theta = 1)), "'newparams'")
  expect_warning(simulate(fit, family = "gaussian"), "'family' is not supported")
  expect_error(simulate(fit, use.u = TRUE, re.form = NA), "only one of 'use.u' and 're.form'")
  expect_error(simulate(fit, re.form = ~ (0 + Days | Subject)), "'re.form' must keep whole")
  expect_error(residuals(fit, type = "partial"), "'type' = \"partial\" is not one of")
  expect_warning(residuals(fit, foo = 2), "'foo' is not supported")
})

test_that("newdata rows with missing values follow na.action as in lme4", {
  skip_if_not_installed("lme4")
  sf <- sleep_fits()
  nd <- sleepstudy[c(1:5, 20:22), ]
  nd$Days[2] <- NA
  nd$Subject <- as.character(nd$Subject)
  nd$Subject[8] <- "new"
  for (na in list(stats::na.pass, stats::na.omit, stats::na.exclude)) {
    a <- predict(sf$lemma, nd, allow.new.levels = TRUE, na.action = na)
    b <- predict(sf$lme4, nd, allow.new.levels = TRUE, na.action = na)
    expect_identical(names(a), names(b))
    expect_identical(is.na(a), is.na(b))
    expect_close(a[!is.na(a)], b[!is.na(b)], rel = 1e-4, floor = 300)
  }
  # NA only in a random-slope variable: lme4 gives NA, not the population value
  f3 <- sleep_fits(Reaction ~ 1 + (Days | Subject))
  nd2 <- data.frame(Days = c(1, NA, 3), Subject = "308")
  a <- predict(f3$lemma, nd2)
  b <- predict(f3$lme4, nd2)
  expect_identical(is.na(a), is.na(b))
  expect_true(is.na(a[2]))
  expect_close(a[-2], b[-2], rel = 1e-4, floor = 300)
  # missing grouping values: an error, or population-level with allow.new.levels
  nd3 <- data.frame(Days = 1:2, Subject = c(NA, "308"))
  expect_error(predict(sf$lemma, nd3), "missing values of the grouping factor 'Subject'")
  expect_close(predict(sf$lemma, nd3, allow.new.levels = TRUE), predict(sf$lme4, nd3, allow.new.levels = TRUE),
               rel = 1e-4, floor = 300)
})

test_that("without newdata, na.action decides whether the fit's dropped rows are padded (lme4)", {
  skip_if_not_installed("lme4")
  d <- sleepstudy
  d$Reaction[c(3, 50)] <- NA
  sf <- sleep_fits(data = d)
  for (na in list(stats::na.exclude, stats::na.omit)) {
    a <- predict(sf$lemma, na.action = na, re.form = NA)
    b <- predict(sf$lme4, na.action = na, re.form = NA)
    expect_identical(names(a), names(b))
    expect_close(a[!is.na(a)], b[!is.na(b)], rel = 1e-4, floor = 300)
  }
  expect_length(predict(sf$lemma, na.action = stats::na.exclude), 180L)
  # a fit with na.exclude: simulate() pads as lme4 does, draws as lme4 does
  fe <- lmm(Reaction ~ Days + (Days | Subject), d, na.action = na.exclude)
  me <- lme4::lmer(Reaction ~ Days + (Days | Subject), d, na.action = na.exclude)
  a <- simulate(fe, seed = 1)
  b <- simulate(me, seed = 1)
  expect_identical(rownames(a), rownames(b))
  expect_identical(is.na(a$sim_1), is.na(b$sim_1))
  expect_close(a$sim_1[!is.na(a$sim_1)], b$sim_1[!is.na(b$sim_1)], rel = 1e-4, floor = 300)
})

test_that("an offset in the formula is taken from newdata (lme4); na.fail refuses missing rows", {
  skip_if_not_installed("lme4")
  d <- sleepstudy
  d$o <- seq(-1, 1, length.out = 180)
  f <- Reaction ~ Days + offset(o) + (Days | Subject)
  nd <- d[1:5, ]
  nd$o <- 100
  expect_close(predict(lmm(f, d), nd), predict(lme4::lmer(f, d), nd), rel = 1e-4, floor = 300)
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  nd <- sleepstudy[1:3, ]
  nd$Days[2] <- NA
  expect_error(predict(fit, nd, na.action = na.fail), "missing values in row\\(s\\) 2, which 'na.action' refuses")
})

test_that("se.fit equals Henderson's prediction-error standard errors (dense hand computation)", {
  skip_if_not_installed("lme4")
  sf <- sleep_fits()
  nd <- data.frame(Days = c(0, 4, 9, 2), Subject = c("308", "335", "372", "new"))
  Xn <- cbind(1, nd$Days)
  nsub <- nlevels(sleepstudy$Subject)
  Zn <- matrix(0, 4, 2 * nsub + 2)   # lme4's Z columns: per subject (Intercept), Days
  for (i in 1:3) {
    j <- match(nd$Subject[i], levels(sleepstudy$Subject))
    Zn[i, 2 * j - 1:0] <- c(1, nd$Days[i])
  }
  Zn[4, 2 * nsub + 1:2] <- c(1, nd$Days[4])   # the new subject
  Gnew <- tcrossprod(as.matrix(lme4::getME(sf$lme4, "Lambda"))[1:2, 1:2])
  p <- predict(sf$lemma, nd, se.fit = TRUE, allow.new.levels = TRUE)
  expect_named(p, c("fit", "se.fit"))
  expect_close(p$se.fit, henderson_se(sf$lme4, Xn, Zn, Gnew), rel = 1e-4)
  expect_close(p$fit, predict(sf$lme4, nd, allow.new.levels = TRUE), rel = 1e-4, floor = 300)
  # only the Days column of the term
  Zd <- Zn
  Zd[, seq(1, ncol(Zd), 2)] <- 0
  expect_close(predict(sf$lemma, nd, se.fit = TRUE, allow.new.levels = TRUE, re.form = ~ (0 + Days | Subject))$se.fit,
               henderson_se(sf$lme4, Xn, Zd, Gnew), rel = 1e-4)
  # the random part alone
  expect_close(predict(sf$lemma, nd, se.fit = TRUE, allow.new.levels = TRUE, random.only = TRUE)$se.fit,
               henderson_se(sf$lme4, 0 * Xn, Zn, Gnew), rel = 1e-4)
  # fixed part only: sqrt(diag(X V X'))
  expect_close(predict(sf$lemma, nd, se.fit = TRUE, re.form = NA)$se.fit,
               sqrt(rowSums((Xn %*% as.matrix(vcov(sf$lme4))) * Xn)), rel = 1e-4)
  # fitted rows, two crossed terms (cross blocks of the conditional covariance)
  pf <- pen_fits()
  rows <- c(1, 5, 50, 144)
  X <- lme4::getME(pf$lme4, "X")
  Z <- as.matrix(lme4::getME(pf$lme4, "Z"))
  expect_close(predict(pf$lemma, Penicillin[rows, ], se.fit = TRUE)$se.fit,
               henderson_se(pf$lme4, X[rows, , drop = FALSE], Z[rows, ]), rel = 1e-4)
  Zp <- Z
  Zp[, colnames(Z) %in% levels(Penicillin$sample)] <- 0
  expect_close(predict(pf$lemma, Penicillin[rows, ], se.fit = TRUE, re.form = ~ (1 | plate))$se.fit,
               henderson_se(pf$lme4, X[rows, , drop = FALSE], Zp[rows, ]), rel = 1e-4)
  # nested terms (batch/cask): the cask:batch and batch blocks are coupled
  nf <- list(lme4 = lme4::lmer(strength ~ 1 + (1 | batch/cask), lme4::Pastes),
             lemma = lmm(strength ~ 1 + (1 | batch/cask), Pastes))
  rows <- c(1, 17, 60)
  expect_close(predict(nf$lemma, Pastes[rows, ], se.fit = TRUE)$se.fit,
               henderson_se(nf$lme4, lme4::getME(nf$lme4, "X")[rows, , drop = FALSE],
                            as.matrix(lme4::getME(nf$lme4, "Z"))[rows, ]), rel = 1e-4)
  # two terms on one factor, without newdata
  df <- sleep_fits(Reaction ~ Days + (Days || Subject))
  expect_close(predict(df$lemma, se.fit = TRUE)$se.fit,
               henderson_se(df$lme4, lme4::getME(df$lme4, "X"), as.matrix(lme4::getME(df$lme4, "Z"))), rel = 1e-4)
})

test_that("intervals are fit -/+ z * se (confidence) or z * sqrt(se^2 + sigma^2) (prediction)", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  nd <- sleepstudy[c(1, 100), ]
  p <- predict(fit, nd, se.fit = TRUE)
  z <- qnorm(0.95)
  ci <- predict(fit, nd, interval = "confidence", level = 0.9)
  expect_equal(colnames(ci), c("fit", "lwr", "upr"))
  expect_equal(unname(ci[, "upr"]), unname(p$fit + z * p$se.fit), tolerance = 1e-12)
  pi <- predict(fit, nd, interval = "prediction", level = 0.9, se.fit = TRUE)
  expect_equal(unname(pi$fit[, "lwr"]), unname(p$fit - z * sqrt(p$se.fit^2 + sigma(fit)^2)), tolerance = 1e-12)
})

test_that("residuals() types and scaling agree with lme4", {
  skip_if_not_installed("lme4")
  d <- sleepstudy
  d$w <- rep(c(0.5, 1, 2), 60)
  sf <- list(lme4 = lme4::lmer(Reaction ~ Days + (Days | Subject), d, weights = w),
             lemma = lmm(Reaction ~ Days + (Days | Subject), d, weights = w))
  for (type in c("working", "response", "pearson", "deviance")) for (scaled in c(FALSE, TRUE))
    expect_close(residuals(sf$lemma, type = type, scaled = scaled), residuals(sf$lme4, type = type, scaled = scaled),
                 rel = 1e-4, floor = if (scaled) 1 else sigma(sf$lme4), label = paste(type, scaled))
})

test_that("simulate() draws as lme4 does: same seed, same estimates, same responses", {
  skip_if_not_installed("lme4")
  sf <- sleep_fits()
  # differences come from the estimates only (1e-5 relative of responses ~ 300)
  # nested and uncorrelated terms: lme4's order of terms and of columns
  expect_close(unlist(simulate(lmm(strength ~ 1 + (1 | batch/cask), Pastes), 2, seed = 3)),
               unlist(simulate(lme4::lmer(strength ~ 1 + (1 | batch/cask), lme4::Pastes), 2, seed = 3)),
               rel = 1e-4, floor = 60)
  uf <- sleep_fits(Reaction ~ Days + (Days || Subject))
  expect_close(unlist(simulate(uf$lemma, 2, seed = 3)), unlist(simulate(uf$lme4, 2, seed = 3)), rel = 1e-4, floor = 300)
  for (args in list(list(nsim = 3, seed = 5), list(nsim = 2, seed = 5, use.u = TRUE))) {
    a <- do.call(simulate, c(list(sf$lemma), args))
    b <- do.call(simulate, c(list(sf$lme4), args))
    expect_identical(dimnames(a), dimnames(b))
    expect_close(unlist(a), unlist(b), rel = 1e-4, floor = 300)
    expect_identical(attr(a, "seed"), attr(b, "seed"))
  }
  # newdata with new levels: effects of new subjects are drawn, not zero
  nd <- data.frame(Days = c(0:3, 0:3, 5), Subject = factor(c(rep("new1", 4), rep("308", 4), "new2")))
  a <- simulate(sf$lemma, nsim = 2, seed = 7, newdata = nd, allow.new.levels = TRUE)
  b <- simulate(sf$lme4, nsim = 2, seed = 7, newdata = nd, allow.new.levels = TRUE)
  expect_equal(dim(a), c(9L, 2L))
  expect_close(unlist(a), unlist(b), rel = 1e-4, floor = 300)
  expect_error(simulate(sf$lemma, newdata = nd), "new levels in newdata")
  # crossed terms, fitted rows and newdata
  pf <- pen_fits()
  expect_close(unlist(simulate(pf$lemma, nsim = 2, seed = 9)), unlist(simulate(pf$lme4, nsim = 2, seed = 9)),
               rel = 1e-4, floor = 25)
  nd <- Penicillin[c(1:30, 100), ]
  nd$plate <- as.character(nd$plate)
  nd$plate[3] <- "zz"
  expect_close(unlist(simulate(pf$lemma, nsim = 2, seed = 9, newdata = nd, allow.new.levels = TRUE)),
               unlist(simulate(pf$lme4, nsim = 2, seed = 9, newdata = nd, allow.new.levels = TRUE)),
               rel = 1e-4, floor = 25)
})

test_that("simulate(re.form =) keeps the named terms and draws the others with their own variance", {
  # lme4 1.1-31 draws the sample effects here with plate's theta (it fills the
  # reduced term's Lambda from the start of theta), so the reference is by hand.
  fit <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  s <- simulate(fit, nsim = 1, seed = 9, re.form = ~ (1 | plate))
  set.seed(9)
  u <- rnorm(nlevels(Penicillin$sample))
  e <- rnorm(nrow(Penicillin))
  sd_sample <- attr(VarCorr(fit)$sample, "stddev")
  hand <- predict(fit, re.form = ~ (1 | plate)) + sd_sample * u[as.integer(Penicillin$sample)] + sigma(fit) * e
  expect_equal(unname(s$sim_1), unname(hand), tolerance = 1e-12)
})

test_that("simulate() residuals have variance sigma^2 / weights; cond.sim = FALSE omits them", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  w <- rep(c(1, 4), 90)
  a <- simulate(fit, seed = 3, weights = w)
  b <- simulate(fit, seed = 3, cond.sim = FALSE)
  set.seed(3)
  rnorm(2 * nlevels(sleepstudy$Subject))   # the random effects come first
  e <- rnorm(180)
  expect_equal(a$sim_1 - b$sim_1, sigma(fit) * e / sqrt(w), tolerance = 1e-12)
  expect_error(simulate(fit, weights = 1:3), "'weights' must be 180 positive")
  # without a seed, consecutive calls differ (the stream is not reset)
  expect_false(identical(simulate(fit)$sim_1, simulate(fit)$sim_1))
})

test_that("simulate() works on a saved fit in a fresh session whose generator is unused", {
  skip_on_cran()
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  f <- tempfile(fileext = ".rds")
  out <- tempfile(fileext = ".rds")
  saveRDS(fit, f)
  code <- sprintf("library(lemma); fit <- readRDS('%s'); s <- simulate(fit); saveRDS(list(s, simulate(fit, seed = 4)), '%s')",
                  f, out)
  rscript <- file.path(R.home("bin"), "Rscript")
  status <- system2(rscript, c("--vanilla", "-e", shQuote(code)), stdout = FALSE, stderr = FALSE,
                    env = paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep)))
  expect_equal(status, 0L)
  res <- readRDS(out)
  expect_equal(dim(res[[1]]), c(180L, 1L))
  expect_equal(res[[2]], simulate(fit, seed = 4))
})

test_that("se.fit with three crossed terms (pairs among the later terms) matches Henderson", {
  skip_if_not_installed("lme4")
  set.seed(11)
  d <- expand.grid(a = factor(1:12), b = factor(1:6), c = factor(1:4))
  d <- d[sample(nrow(d), 200), ]
  d$x <- rnorm(200)
  d$y <- 1 + d$x + rnorm(12)[d$a] + rnorm(6, sd = 0.7)[d$b] + rnorm(4, sd = 0.5)[d$c] + rnorm(200)
  f <- y ~ x + (1 | a) + (1 | b) + (1 | c)
  fm <- lme4::lmer(f, d)
  fl <- lmm(f, d)
  rows <- c(1, 50, 120, 200)
  X <- lme4::getME(fm, "X")
  Z <- as.matrix(lme4::getME(fm, "Z"))
  expect_close(predict(fl, d[rows, ], se.fit = TRUE)$se.fit, henderson_se(fm, X[rows, ], Z[rows, ]), rel = 1e-4)
  # only the two smaller terms
  Zbc <- Z
  Zbc[, seq_len(nlevels(d$a))] <- 0   # lme4's Z: a's columns first (most levels)
  expect_close(predict(fl, d[rows, ], se.fit = TRUE, re.form = ~ (1 | b) + (1 | c))$se.fit,
               henderson_se(fm, X[rows, ], Zbc[rows, ]), rel = 1e-4)
})

test_that("se.fit with a relationship matrix matches Henderson (general and spectral paths)", {
  set.seed(2)
  nl <- 30
  ids <- paste0("i", seq_len(nl))
  A <- matrix(rnorm(nl * 10), nl)
  K <- tcrossprod(A) / 10 + diag(0.05, nl)
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = rep(ids, 3), x = rnorm(3 * nl), site = factor(rep(1:5, length.out = 3 * nl)))
  d$y <- d$x + rep(drop(t(chol(K)) %*% rnorm(nl)), 3) + rnorm(3 * nl)
  # Henderson with G = blockdiag(theta_id^2 K, theta_site^2 I), from lemma's estimates
  # (lme4 has no relationship matrices): the formula is the independent part.
  hand <- function(fit, d, rows, with_site) {
    th <- fit$theta
    Z <- outer(d$id, ids, "==") * 1
    G <- th[["id.(Intercept)"]]^2 * K
    if (with_site) {
      Z <- cbind(Z, outer(d$site, levels(d$site), "==") * 1)
      G <- as.matrix(Matrix::bdiag(G, th[["site.(Intercept)"]]^2 * diag(nlevels(d$site))))
    }
    X <- cbind(1, d$x)
    C <- rbind(cbind(crossprod(X), crossprod(X, Z)), cbind(crossprod(Z, X), crossprod(Z) + solve(G)))
    a <- cbind(X, Z)[rows, ]
    sigma(fit) * sqrt(rowSums((a %*% solve(C)) * a))
  }
  rows <- c(1, 10, 45, 90)
  fit <- lmm(y ~ x + (1 | id), d, relmat = list(id = K))
  expect_close(predict(fit, d[rows, ], se.fit = TRUE)$se.fit, hand(fit, d, rows, FALSE), rel = 1e-8)
  fit2 <- lmm(y ~ x + (1 | id) + (1 | site), d, relmat = list(id = K))
  expect_close(predict(fit2, d[rows, ], se.fit = TRUE)$se.fit, hand(fit2, d, rows, TRUE), rel = 1e-8)
  d1 <- d[seq_len(nl), ]   # one observation per level: the spectral path
  fit1 <- lmm(y ~ x + (1 | id), d1, relmat = list(id = K))
  expect_false(is.null(fit1$spectral))
  expect_close(predict(fit1, d1[c(1, 7, 30), ], se.fit = TRUE)$se.fit, hand(fit1, d1, c(1, 7, 30), FALSE), rel = 1e-8)
})

test_that("simulate() works for a random term with poly() columns (the frame holds only the variables)", {
  set.seed(101)
  dd <- data.frame(x = runif(60), g = gl(6, 10))
  dd$y <- rnorm(60) + rnorm(6)[dd$g] * dd$x
  fit <- lmm(y ~ 1 + (poly(x, 2) | g), dd)
  s1 <- simulate(fit, nsim = 3, seed = 7)
  expect_identical(dim(s1), c(60L, 3L))
  expect_identical(s1, simulate(fit, nsim = 3, seed = 7))
})
