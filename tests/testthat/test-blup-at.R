# blup_at() and plot_trajectories() against independent computations: lme4's fit
# (at its own optimum, and lme4's solution at lemma's theta), dense Henderson
# equations from lme4's getME(), the conditional distribution of a new subject's
# random effects written out in base R, and exact derivatives of cubics.
#
# Tolerances: lemma's and lme4's optima agree to about 1e-5 relative in theta on
# sleepstudy, so comparisons with lme4's own fit use 1e-4 relative (value on the
# response's scale, slope and standard errors relative with a floor of one unit).
# At lemma's theta both packages solve the same linear equations, so agreement is
# to rounding: 1e-7 relative (the dense reference inverts a 40 x 40 matrix whose
# condition number is about 1e5). The derivative is exact up to rounding for
# polynomial pieces: 1e-8 relative to the slope.

ss <- function() {
  d <- lme4::sleepstudy
  # three sites, constant within subject, with a real site effect
  d$site <- factor(c("A", "B", "C")[as.integer(d$Subject) %% 3 + 1])
  d$Reaction <- d$Reaction + c(A = -25, B = 0, C = 25)[as.character(d$site)]
  d
}

# the rows of lme4's Z columns for subject `s` (single term (Days | Subject):
# columns named by level, intercept then Days)
subject_z <- function(m, s, z) {
  Z <- lme4::getME(m, "Z")
  out <- numeric(ncol(Z))
  out[which(colnames(Z) == s)] <- z
  out
}

test_that("blup_at() for subjects in the fit matches dense Henderson equations from lme4", {
  skip_if_not_installed("lme4")
  d <- ss()
  f <- Reaction ~ Days + I(Days^2) + (Days | Subject)
  fit <- lmm(f, d)
  at <- c(2.5, 9)
  out <- blup_at(fit, at = at, time = "Days")
  expect_equal(names(out)[1:3], c("Subject", "at", "value"))
  expect_equal(nrow(out), 18 * 2)
  expect_equal(out$n_obs, rep(10L, 36))
  m_opt <- suppressWarnings(lme4::lmer(f, d))
  m_th <- lme4_at_theta(f, d, fit$theta)
  for (i in seq_len(nrow(out))) {
    a <- out$at[i]
    s <- out$Subject[i]
    # value row (1, a, a^2), slope row its derivative (0, 1, 2a); z: (1, a) and (0, 1)
    xs <- rbind(c(1, a, a^2), c(0, 1, 2 * a))
    got_est <- c(out$value[i], out$slope[i])
    got_V <- c(out$value_se[i]^2, out$slope_se[i]^2, out$cov[i])
    for (m in list(m_th, m_opt)) {
      zs <- rbind(subject_z(m, s, c(1, a)), subject_z(m, s, c(0, 1)))
      ref <- henderson_ref(m, xs, zs)
      tight <- identical(m, m_th)
      expect_close(got_est, ref$est, rel = if (tight) 1e-7 else 1e-4, floor = c(mean(d$Reaction), 10))
      expect_close(got_V, c(ref$V[1, 1], ref$V[2, 2], ref$V[1, 2]), rel = if (tight) 1e-7 else 1e-4,
                   floor = c(ref$V[1, 1], ref$V[2, 2], sqrt(ref$V[1, 1] * ref$V[2, 2])))
    }
  }
  # intervals: normal quantile of the requested level
  o90 <- blup_at(fit, at = 9, time = "Days", level = 0.9)
  expect_close(o90$slope_upr - o90$slope, qnorm(0.95) * o90$slope_se, rel = 1e-12)
  expect_identical(attr(o90, "level"), 0.9)
})

test_that("blup_at() follows interactions of time with a subject-level factor", {
  skip_if_not_installed("lme4")
  d <- ss()
  f <- Reaction ~ Days * site + (Days | Subject)
  fit <- lmm(f, d)
  m <- lme4_at_theta(f, d, fit$theta)
  out <- blup_at(fit, at = 5, time = "Days")
  fe <- lme4::fixef(m)
  re <- lme4::ranef(m)$Subject[out$Subject, ]
  site <- as.character(d$site[match(out$Subject, d$Subject)])
  # slope of subject i: beta_Days + beta_Days:site(i) + b1_i, written out by hand
  slope <- fe[["Days"]] + ifelse(site == "B", fe[["Days:siteB"]], 0) + ifelse(site == "C", fe[["Days:siteC"]], 0) +
    re[, 2]
  value <- fe[["(Intercept)"]] + ifelse(site == "B", fe[["siteB"]], 0) + ifelse(site == "C", fe[["siteC"]], 0) +
    re[, 1] + 5 * slope
  expect_close(out$slope, slope, rel = 1e-7, floor = 10)
  expect_close(out$value, value, rel = 1e-7, floor = 300)
  # new subjects take the site from their own rows; a row without a subject is named
  nd <- data.frame(Subject = c("a", "a", NA), site = c("C", "C", "A"), Days = c(0, 1, 2), Reaction = c(300, 310, 320))
  expect_warning(nw <- blup_at(fit, at = 5, time = "Days", newdata = nd), "1 row\\(s\\) of 'newdata' with a missing 'Subject'")
  expect_equal(nw$n_obs, 2L)
})

test_that("blup_at() includes a second random-effect term (a site effect constant within subject)", {
  skip_if_not_installed("lme4")
  d <- ss()
  f <- Reaction ~ Days + (Days | Subject) + (1 | site)
  fit <- lmm(f, d)
  expect_gt(fit$theta[4], 0.1)    # the site effect is not at the boundary
  out <- blup_at(fit, at = 4, time = "Days")
  # lme4 orders terms by decreasing number of levels, as lemma: Subject, then site
  m <- lme4_at_theta(f, d, fit$theta)
  Z <- lme4::getME(m, "Z")
  for (i in c(1, 7, 18)) {
    s <- out$Subject[i]
    site <- as.character(d$site[d$Subject == s][1])
    zv <- numeric(ncol(Z))
    zv[which(colnames(Z) == s)] <- c(1, 4)
    zv[which(colnames(Z) == site)] <- 1
    zs <- numeric(ncol(Z))
    zs[which(colnames(Z) == s)] <- c(0, 1)
    ref <- henderson_ref(m, rbind(c(1, 4), c(0, 1)), rbind(zv, zs))
    expect_close(c(out$value[i], out$slope[i]), ref$est, rel = 1e-7, floor = 100)
    expect_close(c(out$value_se[i]^2, out$slope_se[i]^2, out$cov[i]), c(ref$V[1, 1], ref$V[2, 2], ref$V[1, 2]),
                 rel = 1e-7, floor = c(ref$V[1, 1], ref$V[2, 2], sqrt(ref$V[1, 1] * ref$V[2, 2])))
  }
  expect_error(blup_at(fit, at = 4, time = "Days", newdata = d), "also has \\(\\(Intercept\\) \\| site\\)")
})

test_that("blup_at() for new subjects is the conditional distribution of b given their own data", {
  skip_if_not_installed("lme4")
  d <- ss()
  f <- Reaction ~ Days + I(Days^2) + (Days | Subject)
  fit <- lmm(f, d)
  m <- lme4_at_theta(f, d, fit$theta)
  G <- as.matrix(Matrix::bdiag(lme4::VarCorr(m)))
  # n1: five visits, one missed (NA response); n2: two visits; n3: none observed;
  # "308" is a fitted subject's label, but in newdata it is a new subject too
  y308 <- d$Reaction[d$Subject == "308"]
  nd <- data.frame(Subject = c(rep("n1", 6), "n2", "n2", "n3", rep("308", 3)),
                   Days = c(0:5, 0, 3, 0, 0:2),
                   Reaction = c(y308[1:3] + 7, NA, y308[5:6] - 3, 300, 280, NA, y308[1:3]))
  at <- c(3, 6)
  out <- blup_at(fit, at = at, time = "Days", newdata = nd)
  expect_equal(unique(out$Subject), c("n1", "n2", "n3", "308"))
  expect_equal(out$n_obs, rep(c(5L, 2L, 0L, 3L), 2))
  for (i in seq_len(nrow(out))) {
    a <- out$at[i]
    rows <- nd[nd$Subject == out$Subject[i] & !is.na(nd$Reaction), ]
    Xi <- cbind(1, rows$Days, rows$Days^2)
    Zi <- cbind(1, rows$Days)
    ref <- new_subject_ref(m, G, rbind(c(1, a, a^2), c(0, 1, 2 * a)), rbind(c(1, a), c(0, 1)),
                           Xi, Zi, rows$Reaction)
    expect_close(c(out$value[i], out$slope[i]), ref$est, rel = 1e-7, floor = c(300, 10))
    expect_close(c(out$value_se[i]^2, out$slope_se[i]^2, out$cov[i]), c(ref$V[1, 1], ref$V[2, 2], ref$V[1, 2]),
                 rel = 1e-7, floor = c(ref$V[1, 1], ref$V[2, 2], sqrt(ref$V[1, 1] * ref$V[2, 2])))
  }
  # with no observation: the population curve and the prior variance plus cov(beta-hat)
  n3 <- out[out$Subject == "n3" & out$at == 6, ]
  expect_close(n3$value, sum(c(1, 6, 36) * lme4::fixef(m)), rel = 1e-7)
  # the new-subject path uses only the subject's own rows: "308" in newdata is not
  # the fitted 308 (whose ten visits give a smaller error)
  fitted308 <- blup_at(fit, at = 3, time = "Days")
  expect_gt(out$value_se[out$Subject == "308" & out$at == 3], fitted308$value_se[fitted308$Subject == "308"])
})

test_that("the slope is the exact derivative of the value for poly(), ns() and I(t^2) terms", {
  skip_if_not_installed("lme4")
  d <- ss()
  fits <- list(
    poly = Reaction ~ poly(Days, 3) + (poly(Days, 2) | Subject),
    ns = Reaction ~ splines::ns(Days, knots = c(3, 6)) + (Days | Subject),
    sq = Reaction ~ Days + I(Days^2) + (Days | Subject))
  for (nm in names(fits)) {
    fit <- suppressWarnings(lmm(fits[[nm]], d))
    for (a in c(1.5, 4.5, 7.8)) {
      # four points inside one polynomial piece (the knots of ns are 3 and 6)
      ts <- a + c(-0.4, -0.15, 0.1, 0.35)
      vals <- vapply(ts, function(t) blup_at(fit, at = t, time = "Days")$value, numeric(18))
      got <- blup_at(fit, at = a, time = "Days")
      ref <- apply(vals, 1, function(v) cubic_slope(ts, v, a))
      expect_close(got$slope, ref, rel = 1e-8, floor = 10, label = paste(nm, a))
    }
    # and the curve itself is lme4's: its personal prediction, differentiated the same
    # way, at lme4's own optimum
    m <- suppressWarnings(lme4::lmer(fits[[nm]], d))
    nd <- data.frame(Subject = "309", Days = ts)
    ref_slope <- cubic_slope(ts, predict(m, nd), a)
    got309 <- got[got$Subject == "309", ]
    expect_close(got309$value, unname(predict(m, data.frame(Subject = "309", Days = a))), rel = 1e-4, floor = 300,
                 label = paste(nm, "value"))
    expect_close(got309$slope, ref_slope, rel = 1e-4, floor = 10, label = paste(nm, "slope"))
  }
})

test_that("blup_at() names bad arguments and inputs", {
  d <- ss()
  fit <- lmm(Reaction ~ Days + (Days | Subject), d)
  expect_error(blup_at(fit, at = 1), "'time' = \"t\" is not a variable of the model.*Days")
  expect_error(blup_at(fit, at = "1", time = "Days"), "'at' must be")
  expect_error(blup_at(fit, at = NA_real_, time = "Days"), "'at' must be")
  expect_error(blup_at(fit, at = 1, time = "Days", level = 1), "'level'")
  expect_error(blup_at(fit, at = 1, time = "Days", group = "site"), "'group' must be one of.*Subject")
  expect_error(blup_at(lm(Reaction ~ Days, d), at = 1), "blup_at\\(\\): 'fit' must be a model fitted by lmm\\(\\) \\(it is of class lm\\)")
  expect_error(blup_at(fit, at = 1, time = "Days", newdata = d[, c("Days", "Subject")]),
               "newdata.*response Reaction")
  expect_error(blup_at(fit, at = 1, time = "Days", newdata = as.list(d)), "'newdata' must be a data frame")
  expect_error(blup_at(fit, at = 1, time = "Days", newdata = d[, c("Reaction", "Subject")]), "no column 'Days'")
  d$dose <- sqrt(d$Days)   # varies within subject
  fit2 <- lmm(Reaction ~ Days + dose + (1 | Subject), d)
  expect_error(blup_at(fit2, at = 1, time = "Days"), "'dose' varies within subject '308'")
  d$fday <- factor(d$Days)
  fit3 <- lmm(Reaction ~ fday + (1 | Subject), d)
  expect_error(blup_at(fit3, at = 1, time = "fday"), "must be numeric")
  d$w <- rep(c(1, 2), 90)
  fitw <- lmm(Reaction ~ Days + (Days | Subject), d, weights = w)
  expect_warning(blup_at(fitw, at = 1, time = "Days", newdata = d[1:3, ]), "weight 1")
})

test_that("plot_trajectories() draws panels and overlays with lme4's curves", {
  skip_if_not_installed("lme4")
  d <- ss()
  f <- Reaction ~ Days + I(Days^2) + (Days | Subject)
  fit <- lmm(f, d)
  m <- lme4::lmer(f, d)
  for (lay in c("panels", "overlay")) {
    file <- tempfile(fileext = ".png")
    png(file, 900, 700)
    cu <- plot_trajectories(fit, time = "Days", subjects = if (lay == "panels") c("308", "309", "330", "335"),
                            layout = lay, n_grid = 11, main = lay)
    dev.off()
    expect_true(file.exists(file))
    expect_gt(file.size(file), 5000)
    # the drawn curves are lme4's population and personal predictions
    nd <- data.frame(Subject = cu$Subject, Days = cu$time)
    expect_close(cu$population, unname(predict(m, nd, re.form = NA)), rel = 1e-4, floor = 300)
    expect_close(cu$personal, unname(predict(m, nd)), rel = 1e-4, floor = 300)
  }
  expect_equal(length(unique(cu$Subject)), 18)
  # new subjects: personal curves conditioned on their own rows (hand formula)
  mt <- lme4_at_theta(f, d, fit$theta)
  G <- as.matrix(lme4::VarCorr(mt)$Subject)
  nd <- data.frame(Subject = c("n1", "n1", "n1", "n2"), Days = c(0, 1, 3, 0), Reaction = c(260, 290, NA, 240))
  file <- tempfile(fileext = ".png")
  png(file, 700, 400)
  cu <- plot_trajectories(fit, time = "Days", newdata = nd, xlim = c(0, 9), n_grid = 4)
  dev.off()
  expect_gt(file.size(file), 5000)
  expect_equal(cu$time, rep(c(0, 3, 6, 9), 2))
  for (i in seq_len(nrow(cu))) {
    a <- cu$time[i]
    h <- nd[nd$Subject == cu$Subject[i] & !is.na(nd$Reaction), ]
    ref <- new_subject_ref(mt, G, rbind(c(1, a, a^2)), rbind(c(1, a)), cbind(1, h$Days, h$Days^2), cbind(1, h$Days),
                           h$Reaction)
    expect_close(cu$personal[i], ref$est, rel = 1e-7, floor = 300)
    expect_close(cu$population[i], sum(c(1, a, a^2) * lme4::fixef(mt)), rel = 1e-7, floor = 300)
  }
  expect_error(plot_trajectories(fit, time = "Days", newdata = nd, xlim = c(3, 1)), "'xlim'")
  expect_error(plot_trajectories(fit, time = "Days", newdata = nd, subjects = "308"), "not in the new data's 'Subject': 308")
  expect_error(plot_trajectories(fit, time = "Days", subjects = "999"), "'subjects' has levels not in the fit's 'Subject': 999")
  expect_error(plot_trajectories(fit, time = "Days", layout = "grid"), "'layout'")
})
