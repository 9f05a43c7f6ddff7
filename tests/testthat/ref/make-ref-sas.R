## make-ref-sas.R -- SAS PROC MIXED results on fev_data (the mmrm package's data,
## stored here as fev_data.rds), transcribed by hand from the SAS output that the
## mmrm authors published with their package (github.com/openpharma/mmrm, Apache
## License 2.0), so that lemma is checked against SAS itself and not only against
## mmrm. Sources (paths in that repository):
##   design/SAS/sas_log_reml.txt   us, REML, FEV1 ~ RACE + SEX + ARMCD * AVISIT:
##                                 -2 res log-likelihood (iteration history), covariance
##                                 parameters with CL limits, solution for fixed effects
##                                 (DDFM=SATTERTHWAITE), type 3 tests, LS means and the
##                                 TRT - PBO differences by visit
##   design/SAS/sas_log.txt        the same model by ML
##   design/SAS/sas_*_{ml,reml}.txt (and sas_toep_*.rtf, mmrm_ad_*.txt): intercept-only
##                                 models FEV1 ~ 1 with each structure; the values as
##                                 the mmrm tests (tests/testthat/test-tmb.R) quote them.
## SAS prints 4 decimals (the -2 log-likelihood of the iteration history 8) and
## integer Satterthwaite df. Run from tests/testthat/ref/: Rscript make-ref-sas.R
vis <- c("VIS1", "VIS2", "VIS3", "VIS4")
## SAS orders the visits VIS2 VIS3 VIS4 VIS1 (VIS1 is its reference level):
## UN(i, j) below are given with R's visit names.
sas_un <- function(rows) {
  d <- as.data.frame(do.call(rbind, lapply(rows, function(r) data.frame(row = r[[1]], col = r[[2]], estimate = r[[3]],
                                                                        lower = r[[4]], upper = r[[5]]))))
  d
}
us_reml <- list(
  formula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", reml = TRUE,
  m2ll = 3386.44987722,
  cov = sas_un(list(
    list("VIS2", "VIS2", 26.5692, 21.2242, 34.2340), list("VIS3", "VIS2", 2.7851, -1.2137, 6.7838),
    list("VIS3", "VIS3", 14.8970, 11.8032, 19.3965), list("VIS4", "VIS2", 7.4790, -1.6955, 16.6534),
    list("VIS4", "VIS3", 0.9017, -7.0667, 8.8701), list("VIS4", "VIS4", 95.5528, 75.9677, 123.87),
    list("VIS1", "VIS2", 14.3982, 8.0430, 20.7533), list("VIS1", "VIS3", 4.9744, -0.06856, 10.0174),
    list("VIS1", "VIS4", 13.3731, -1.2381, 27.9843), list("VIS1", "VIS1", 40.5509, 32.3836, 52.2687))),
  fixed = data.frame(
    term = c("(Intercept)", "RACEBlack or African American", "RACEWhite", "SEXFemale", "ARMCDTRT", "AVISITVIS2",
             "AVISITVIS3", "AVISITVIS4", "ARMCDTRT:AVISITVIS2", "ARMCDTRT:AVISITVIS3", "ARMCDTRT:AVISITVIS4"),
    estimate = c(30.7774, 1.5305, 5.6436, 0.3262, 3.7745, 4.8396, 10.3422, 15.0537, -0.04231, -0.6939, 0.6240),
    se = c(0.8865, 0.6244, 0.6656, 0.5319, 1.0741, 0.8016, 0.8227, 1.3129, 1.1292, 1.1876, 1.8510),
    df = c(219, 169, 157, 166, 146, 144, 156, 138, 139, 158, 130)),
  type3 = data.frame(term = c("RACE", "SEX", "ARMCD", "AVISIT", "ARMCD:AVISIT"), numdf = c(2, 1, 1, 3, 3),
                     dendf = c(166, 166, 169, 148, 148), F = c(36.92, 0.38, 31.67, 142.11, 0.26)),
  lsmeans = data.frame(
    AVISIT = rep(c("VIS2", "VIS3", "VIS4", "VIS1"), each = 2), ARMCD = rep(c("TRT", "PBO"), 4),
    estimate = c(41.9037, 38.1715, 46.7546, 43.6740, 52.7841, 48.3855, 37.1063, 33.3318),
    se = c(0.6023, 0.6117, 0.5086, 0.4617, 1.1877, 1.1886, 0.7626, 0.7554),
    df = c(144, 147, 130, 130, 133, 134, 143, 148),
    lower = c(40.7131, 36.9626, 45.7484, 42.7605, 50.4347, 46.0346, 35.5990, 31.8391),
    upper = c(43.0942, 39.3803, 47.7608, 44.5875, 55.1334, 50.7364, 38.6137, 34.8245)),
  diffs = data.frame(  # TRT - PBO at each visit
    AVISIT = c("VIS2", "VIS3", "VIS4", "VIS1"), estimate = c(3.7322, 3.0806, 4.3985, 3.7745),
    se = c(0.8588, 0.6896, 1.6805, 1.0741), df = c(145, 131, 133, 146),
    lower = c(2.0348, 1.7164, 1.0746, 1.6517), upper = c(5.4296, 4.4448, 7.7225, 5.8974)))
us_ml <- list(
  formula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", reml = FALSE,
  m2ll = 3397.57220025,
  cov = sas_un(list(
    list("VIS2", "VIS2", 25.9989, 20.8037, 33.4272), list("VIS3", "VIS2", 2.5419, -1.3222, 6.4060),
    list("VIS3", "VIS3", 14.4620, 11.4881, 18.7679), list("VIS4", "VIS2", 7.2159, -1.7266, 16.1583),
    list("VIS4", "VIS3", 0.6609, -7.0819, 8.4037), list("VIS4", "VIS4", 93.9227, 74.7945, 121.50),
    list("VIS1", "VIS2", 14.0451, 7.8623, 20.2279), list("VIS1", "VIS3", 4.7227, -0.1663, 9.6116),
    list("VIS1", "VIS4", 12.9820, -1.3178, 27.2818), list("VIS1", "VIS1", 39.7740, 31.8129, 51.1652))))
## Intercept-only models: -2 (res) log-likelihood, the intercept and its SE.
simple <- data.frame(
  formula = rep(c("us(AVISIT | USUBJID)", "ad(AVISIT | USUBJID)", "adh(AVISIT | USUBJID)",
                  "adh(AVISIT | ARMCD / USUBJID)", "toep(AVISIT | USUBJID)", "toeph(AVISIT | USUBJID)",
                  "toeph(AVISIT | ARMCD / USUBJID)", "ar1(AVISIT | USUBJID)", "ar1h(AVISIT | USUBJID)",
                  "ar1(AVISIT | ARMCD / USUBJID)", "ar1h(AVISIT | ARMCD / USUBJID)", "cs(AVISIT | USUBJID)",
                  "csh(AVISIT | USUBJID)", "cs(AVISIT | ARMCD / USUBJID)", "csh(AVISIT | ARMCD / USUBJID)"), each = 2),
  reml = rep(c(FALSE, TRUE), 15),
  m2ll = c(3700.68707570, 3700.94648570, 3855.8794, 3855.3383, 3713.24501787, 3713.49317786,
           3688.48731427, 3688.84024388, 3857.00777313, 3856.68995273, 3722.29178558, 3722.38018329,
           3704.27043196, 3704.49921127, 3875.95352406, 3875.49945459, 3739.94416707, 3739.96835012,
           3873.08507919, 3872.65212395, 3724.22021102, 3724.36099760, 3918.12214544, 3917.98183508,
           3784.63158043, 3784.85341599, 3915.54243738, 3915.41985780, 3764.21336404, 3764.55218946),
  se = c(0.3499, 0.3509, 0.5222, 0.5236, 0.3519, 0.3529, 0.3339, 0.3349, 0.4669, 0.4684, 0.3812, 0.3822,
         0.3553, 0.3563, 0.5000, 0.5013, 0.3936, 0.3947, 0.4947, 0.4960, 0.3713, 0.3723, 0.4273, 0.4285,
         0.3566, 0.3575, 0.4236, 0.4247, 0.3363, 0.3372),
  estimate = c(42.8367, 42.8338, 43.0574, 43.0560, 42.9019, 42.9009, 42.5284, 42.5293, 42.3717, 42.3721,
               41.6769, 41.6726, 41.4792, 41.4766, 42.3252, 42.3255, 41.7017, 41.6955, 41.9560, 41.9576,
               41.7161, 41.7104, 42.2897, 42.2896, 42.0018, 41.9964, 41.9714, 41.9734, 41.8492, 41.8458),
  stringsAsFactors = FALSE)
simple$formula <- paste("FEV1 ~", simple$formula)
saveRDS(list(us_reml = us_reml, us_ml = us_ml, simple = simple,
             source = "SAS PROC MIXED output published in github.com/openpharma/mmrm design/SAS/ (Apache-2.0)"),
        "sas_refs.rds")
