# Key numbers of the vignettes "recovery-trajectories" and "landmark-pbcseq",
# recomputed here from the same data (the vignettes' code is repeated: keep the two
# in step) and checked against lme4, dense Henderson equations and the conditional
# distribution of a new patient's random effects by hand (helper-trajectories.R),
# and survival's own coxph() on covariates computed from lme4.
#
# Tolerances: lemma's and lme4's optima agree to about 1e-5 relative here, so
# estimates and BLUPs are compared with lme4's fit at 1e-4 relative (with a floor
# on the quantity's own scale); at lemma's theta the same equations are solved by
# both, so 1e-7 relative. Cox coefficients move with their covariates: BLUPs that
# agree to 1e-5 give coefficients that agree to well within 1e-3 relative.

recovery_data <- function() {
  set.seed(42)
  n <- 80
  weeks <- c(0, 1, 2, 4, 6, 8, 10, 12)
  S <- matrix(c(8^2, -0.6 * 8 * 1.2, -0.6 * 8 * 1.2, 1.2^2), 2)
  b <- matrix(rnorm(2 * n), n) %*% chol(S)
  full <- expand.grid(week = weeks, id = factor(sprintf("P%02d", seq_len(n))))
  i <- as.integer(full$id)
  full$score <- 35 + b[i, 1] + (6 + b[i, 2]) * full$week - 0.25 * full$week^2 +
    rnorm(nrow(full), sd = 4)
  missed <- full$week > 0 & runif(nrow(full)) < 0.15
  trigger <- !missed & full$week >= 4 & full$score < 50 & runif(nrow(full)) < 0.6
  left <- ave(as.numeric(trigger), full$id, FUN = function(x) cumsum(c(0, head(x, -1)))) > 0
  full[!missed & !left, ]
}

# lme4's Z columns of a single (week | id) term for patient `s`
z_row <- function(m, s, z) {
  Z <- lme4::getME(m, "Z")
  out <- numeric(ncol(Z))
  out[which(colnames(Z) == s)] <- z
  out
}

# Henderson references for value (z = (1, w)) and slope (z = (0, 1)) rows of every
# patient in `ids` at once (one dense inverse), for a single (time | id) term.
henderson_stacked <- function(m, ids, xs, zvalue) {
  zs <- do.call(rbind, lapply(ids, function(id) rbind(z_row(m, id, zvalue), z_row(m, id, c(0, 1)))))
  r <- henderson_ref(m, xs[rep(1:2, length(ids)), , drop = FALSE], zs)
  v <- seq(1, 2 * length(ids), by = 2)
  list(value = r$est[v], slope = r$est[v + 1], vv = r$V[cbind(v, v)], vs = r$V[cbind(v + 1, v + 1)],
       cvs = r$V[cbind(v, v + 1)])
}

test_that("recovery-trajectories: estimates, LRT and personal values and slopes agree with lme4", {
  skip_if_not_installed("lme4")
  recovery <- recovery_data()
  expect_equal(nrow(recovery), 497L)
  f <- score ~ week + I(week^2) + (week | id)
  fit <- lmm(f, recovery)
  m <- lme4::lmer(f, recovery)
  expect_close(fixef(fit), lme4::fixef(m), rel = 1e-4, floor = 0.1)
  vc <- as.data.frame(VarCorr(fit))
  vm <- as.data.frame(lme4::VarCorr(m))
  expect_close(vc$sdcor, vm$sdcor, rel = 1e-4, floor = 0.1)   # SDs, correlation (-0.51), sigma
  # the likelihood-ratio test of the correlation (both refit by ML)
  fit0 <- lmm(score ~ week + I(week^2) + (week || id), recovery)
  m0 <- lme4::lmer(score ~ week + I(week^2) + (week || id), recovery)
  a <- suppressMessages(anova(fit0, fit))
  am <- suppressMessages(anova(m0, m))
  expect_close(a$Chisq[2], am$Chisq[2], rel = 1e-4)
  # the population curve against the observed means
  weeks <- c(0, 1, 2, 4, 6, 8, 10, 12)
  expect_close(predict(fit, data.frame(week = weeks), re.form = NA),
               predict(m, data.frame(week = weeks), re.form = NA), rel = 1e-4, floor = 50)
  # blup_at() at weeks 0 and 12, against Henderson at lemma's theta (tight) and
  # lme4's own optimum
  mt <- lme4_at_theta(f, recovery, fit$theta)
  for (w in c(0, 12)) {
    got <- blup_at(fit, at = w, time = "week")
    xs <- rbind(c(1, w, w^2), c(0, 1, 2 * w))
    ref_t <- henderson_stacked(mt, got$id, xs, c(1, w))
    ref_o <- henderson_stacked(m, got$id, xs, c(1, w))
    expect_close(got$value, ref_t$value, rel = 1e-7, floor = 50)
    expect_close(got$slope, ref_t$slope, rel = 1e-7, floor = 1)
    expect_close(got$value_se, sqrt(ref_t$vv), rel = 1e-7)
    expect_close(got$slope_se, sqrt(ref_t$vs), rel = 1e-7)
    expect_close(got$cov, ref_t$cvs, rel = 1e-7, floor = sqrt(ref_t$vv * ref_t$vs))
    expect_close(got$value, ref_o$value, rel = 1e-4, floor = 50)
    expect_close(got$slope, ref_o$slope, rel = 1e-4, floor = 1)
    se_o <- sqrt(ref_o$vs)
    expect_close(got$slope_se, se_o, rel = 1e-4)
    if (w == 12) {
      # the patients still improving at week 12 (95% interval of the slope above 0)
      lwr <- ref_o$slope - qnorm(0.975) * se_o
      expect_identical(got$id[got$slope_lwr > 0], got$id[lwr > 0])
      expect_equal(sum(got$slope_lwr > 0), 8L)
    }
  }
  # the vignette's plots
  for (lay in c("panels", "overlay")) {
    file <- tempfile(fileext = ".png")
    png(file, 700, 600)
    plot_trajectories(fit, time = "week", layout = lay,
                      subjects = if (lay == "panels") c("P13", "P19", "P74", "P01", "P02", "P10"))
    dev.off()
    expect_gt(file.size(file), 5000)
  }
})

pbc_landmark_data <- function() {
  pbc <- survival::pbcseq
  pbc$year <- pbc$day / 365.25
  s <- 2
  base <- pbc[!duplicated(pbc$id), c("id", "futime", "status", "age", "bili")]
  base$years <- base$futime / 365.25
  atrisk <- base[base$years > s, ]
  atrisk$after <- atrisk$years - s
  atrisk$death <- atrisk$status == 2
  history <- pbc[pbc$id %in% atrisk$id & pbc$year <= s, ]
  set.seed(2)
  new_ids <- sort(sample(atrisk$id, round(nrow(atrisk) / 5)))
  list(s = s, atrisk = atrisk, history = history, new_ids = new_ids,
       train = history[!history$id %in% new_ids, ])
}

test_that("landmark-pbcseq: landmark BLUPs (fitted and new patients) and the Cox model agree with lme4 + hand formulas", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("survival")
  D <- pbc_landmark_data()
  s <- D$s
  expect_equal(c(nrow(D$atrisk), length(D$new_ids), nrow(D$train)), c(278L, 56L, 673L))
  f <- log(bili) ~ year + (year | id)
  fit <- lmm(f, D$train)
  m <- lme4::lmer(f, D$train)
  expect_close(fixef(fit), lme4::fixef(m), rel = 1e-4, floor = 0.05)
  expect_close(as.data.frame(VarCorr(fit))$sdcor, as.data.frame(lme4::VarCorr(m))$sdcor, rel = 1e-4, floor = 0.1)
  # patients in the fit: Henderson at lemma's theta, values also at lme4's optimum
  got <- blup_at(fit, at = s, time = "year")
  mt <- lme4_at_theta(f, D$train, fit$theta)
  xs <- rbind(c(1, s), c(0, 1))
  ref_t <- henderson_stacked(mt, got$id, xs, c(1, s))
  expect_close(got$value, ref_t$value, rel = 1e-7, floor = 1)
  expect_close(got$slope, ref_t$slope, rel = 1e-7, floor = 0.1)
  expect_close(got$value_se, sqrt(ref_t$vv), rel = 1e-7)
  expect_close(got$slope_se, sqrt(ref_t$vs), rel = 1e-7)
  expect_close(got$cov, ref_t$cvs, rel = 1e-7, floor = sqrt(ref_t$vv * ref_t$vs))
  # lme4's own BLUPs at its optimum: the Cox model's covariates
  re <- lme4::ranef(m)$id
  fe <- lme4::fixef(m)
  ref_fit <- data.frame(id = rownames(re), value = fe[1] + re[, 1] + (fe[2] + re[, 2]) * s,
                        slope = fe[2] + re[, 2])
  expect_identical(got$id, ref_fit$id)
  expect_close(got$value, ref_fit$value, rel = 1e-4, floor = 1)
  expect_close(got$slope, ref_fit$slope, rel = 1e-4, floor = 0.1)
  # new patients: b | y_i by hand, at lemma's theta (tight) and at lme4's optimum
  new_hist <- D$history[D$history$id %in% D$new_ids, ]
  got_new <- blup_at(fit, at = s, time = "year", newdata = new_hist)
  expect_identical(got_new$id, as.character(D$new_ids))
  ref_new <- function(mm) {
    G <- as.matrix(lme4::VarCorr(mm)$id)
    t(vapply(got_new$id, function(id) {
      h <- new_hist[new_hist$id == id, ]
      r <- new_subject_ref(mm, G, xs, rbind(c(1, s), c(0, 1)), cbind(1, h$year), cbind(1, h$year),
                           log(h$bili))
      c(r$est, sqrt(diag(r$V)), r$V[1, 2])
    }, numeric(5)))
  }
  rn <- ref_new(mt)
  expect_close(got_new$value, rn[, 1], rel = 1e-7, floor = 1)
  expect_close(got_new$slope, rn[, 2], rel = 1e-7, floor = 0.1)
  expect_close(got_new$value_se, rn[, 3], rel = 1e-7)
  expect_close(got_new$slope_se, rn[, 4], rel = 1e-7)
  expect_close(got_new$cov, rn[, 5], rel = 1e-7, floor = rn[, 3] * rn[, 4])
  ro <- ref_new(m)
  expect_close(got_new$value, ro[, 1], rel = 1e-4, floor = 1)
  expect_close(got_new$slope, ro[, 2], rel = 1e-4, floor = 0.1)
  # the Cox model and the new patients' concordance, from lemma's BLUPs and from lme4's
  cox_on <- function(tr, nw) {
    d <- merge(D$atrisk, tr, by = "id")
    cx <- survival::coxph(survival::Surv(after, death) ~ value + slope, data = d)
    dn <- merge(D$atrisk, nw, by = "id")
    dn$risk <- predict(cx, newdata = dn)
    list(coef = coef(cx), se = sqrt(diag(vcov(cx))),
         conc = survival::concordance(survival::Surv(after, death) ~ risk, data = dn, reverse = TRUE)$concordance)
  }
  ours <- cox_on(got, got_new)
  theirs <- cox_on(ref_fit, data.frame(id = got_new$id, value = ro[, 1], slope = ro[, 2]))
  expect_close(ours$coef, theirs$coef, rel = 1e-3)
  expect_close(ours$se, theirs$se, rel = 1e-3)
  expect_close(ours$conc, theirs$conc, rel = 1e-6)   # a rank statistic: identical unless ties change
  # the vignette's trajectory plot
  file <- tempfile(fileext = ".png")
  png(file, 700, 600)
  plot_trajectories(fit, time = "year", subjects = c("14", "21", "46", "19", "32", "34"), main = "log bilirubin")
  dev.off()
  expect_gt(file.size(file), 5000)
  file <- tempfile(fileext = ".png")
  png(file, 700, 500)
  cu <- plot_trajectories(fit, time = "year", newdata = new_hist, subjects = head(got_new$id, 4), xlim = c(0, s),
                          n_grid = 3)
  dev.off()
  expect_gt(file.size(file), 5000)
  # at the landmark the new patients' personal curves are their landmark values (hand formula)
  at_s <- cu[cu$time == s, ]
  expect_close(at_s$personal, rn[match(at_s$id, got_new$id), 1], rel = 1e-7, floor = 1)
})
