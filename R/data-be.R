#' Reference data sets for replicate-design bioequivalence
#'
#' Four of the reference data sets for the evaluation of replicate-design
#' bioequivalence studies collected by the replicateBE package (its `rds01`,
#' `rds02`, `rds04` and `rds11`):
#' \describe{
#'   \item{rds01}{the European Medicines Agency's Annex II: a 4-period, 2-sequence
#'     full replicate (TRTR | RTRT), 77 subjects, 298 observations (10 periods
#'     missing).}
#'   \item{rds02}{the EMA's Annex III: a 3-period, 3-sequence partial replicate
#'     (TRR | RTR | RRT), 24 subjects, 72 observations.}
#'   \item{rds04}{Patterson & Jones (2012), Table II (Cmax): a partial replicate
#'     (TRR | RTR | RRT), 51 subjects, 153 observations.}
#'   \item{rds11}{Hauschke, Steinijans & Pigeot (2007), Table 9.6 (Cmax): a
#'     4-period full replicate (TRRT | RTTR), 37 subjects, 148 observations.}
#' }
#' Columns: `subject` (factor), `period` (factor), `sequence` (factor, in the
#' published order), `treatment` (factor, reference `"R"` first, test `"T"`), `PK`
#' (a pharmacokinetic response, Cmax; analysed on the log scale).
#'
#' Published results of the EMA's Method B (log(PK) on sequence, period and
#' treatment, random subject), as reported with the data: rds01, point estimate of
#' T/R 115.73\%, 90\% CI 107.17\%--124.97\%; rds02, 102.26\%, 97.32\%--107.46\%.
#' Published results of the FDA's mixed model (SAS PROC MIXED: a 2 x 2 subject
#' covariance over the formulations and a within-subject variance per formulation;
#' in lemma `lmm(log(PK) ~ sequence + period + treatment + (0 + treatment |
#' subject), dispformula = ~ treatment)`), as the replicateBE package reports
#' them from the sources: rds04, CVwR 61\%, T/R 137\%, 90\% CI 119\%--159\%;
#' rds11, T/R 90.0\%, 90\% CI 79.6\%--101.7\%.
#'
#' @source European Medicines Agency (2016), Questions & Answers: positions on
#'   specific questions addressed to the Pharmacokinetics Working Party, Annex II
#'   and Annex III (public documents); Patterson SD, Jones B (2012), Viewpoint:
#'   observations on scaled average bioequivalence, Pharmaceutical Statistics
#'   11(1), 1--7 (rds04); Hauschke D, Steinijans VW, Pigeot I (2007),
#'   Bioequivalence Studies in Drug Development, Wiley, p. 216 (rds11). All via
#'   the replicateBE package (Schütz, Tomashevskiy, Labes; CRAN, GPL (>= 3)), whose
#'   `rds01`, `rds02`, `rds04` and `rds11` they are (`data-raw/bioequivalence.R`
#'   makes them). The values are the published data; only the column `logPK` was
#'   dropped and the factor levels reordered.
#' @name rds01
#' @aliases rds02 rds04 rds11
#' @docType data
#' @keywords datasets
#' @seealso [gmr()]
#' @examples
#' str(rds01)
#' table(rds02$sequence, rds02$period)
"rds01"

#' @rdname rds01
"rds02"

#' @rdname rds01
"rds04"

#' @rdname rds01
"rds11"
