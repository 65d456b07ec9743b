package load

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/manifest"
)

// maxReplicas is the most replicas one workload may expand into.
const maxReplicas = 100000

// expand turns the workload o (meta, replicas, template and volume claim templates decoded from it)
// into its replicas as pending pods; --scale overrides the replicas of all but Jobs.
func (l *loader) expand(o *manifest.Object, meta metav1.ObjectMeta, replicas *int32, tpl *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim) error {
	kind := o.Kind
	defaultNamespace(&meta)
	if err := l.unique(kind, &meta, o); err != nil {
		return err
	}
	n := int32(1)
	if replicas != nil {
		n = *replicas
	}
	if kind != "Job" {
		for i, t := range l.opts.Scale {
			if t.Name == meta.Name && (t.Namespace == "" || t.Namespace == meta.Namespace) && (t.Kind == "" || strings.EqualFold(t.Kind, kind)) {
				n = t.Replicas
				l.scaleUsed[i] = true
			}
		}
	}
	if n < 0 {
		return o.Errorf("%s %s: negative replicas %d", kind, meta.Name, n)
	}
	if n > maxReplicas {
		return o.Errorf("%s %s: %d replicas is more than the planner takes (%d)", kind, meta.Name, n, maxReplicas)
	}
	l.workloads++
	// replica i of the n-th workload is created n seconds + i milliseconds after engine.Epoch, so
	// Karpenter's queue order is the same on every run
	created := engine.Epoch.Add(time.Duration(l.workloads) * time.Second)
	for i := int32(0); i < n; i++ {
		p := replicaPod(kind, meta.Namespace, meta.Name, tpl, fmt.Sprintf("%s-%d", meta.Name, i),
			engine.StableUID(kind, meta.Namespace, meta.Name, strconv.Itoa(int(i))), created.Add(time.Duration(i)*time.Millisecond))
		for _, c := range claims {
			claim := c.DeepCopy()
			claim.Name = fmt.Sprintf("%s-%s-%d", c.Name, meta.Name, i)
			claim.Namespace = meta.Namespace
			claim.UID = engine.StableUID("PersistentVolumeClaim", meta.Namespace, claim.Name)
			l.snap.PersistentVolumeClaims = append(l.snap.PersistentVolumeClaims, claim)
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}})
		}
		l.snap.PendingPods = append(l.snap.PendingPods, p)
	}
	return nil
}

// replicaPod is a pending replica of the workload kind namespace/workload built from its template,
// owned as its controller would own it (a Deployment's pods by its ReplicaSet).
func replicaPod(kind, namespace, workload string, tpl *corev1.PodTemplateSpec, name string, uid types.UID, created time.Time) *corev1.Pod {
	ownerKind, ownerAPI := kind, "apps/v1"
	if kind == "Deployment" {
		ownerKind = "ReplicaSet"
	}
	if kind == "Job" {
		ownerAPI = "batch/v1"
	}
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: *tpl.ObjectMeta.DeepCopy(),
		Spec:       *tpl.Spec.DeepCopy(),
	}
	p.Name, p.Namespace, p.UID = name, namespace, uid
	p.CreationTimestamp = metav1.NewTime(created)
	p.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: ownerAPI, Kind: ownerKind, Name: workload, UID: engine.StableUID(kind, namespace, workload),
		Controller: ptr.To(true),
	}}
	p.Status.Phase = corev1.PodPending
	return p
}

// TemplatePod is a pending pod built from a workload's template, as its controller would create it:
// what explain examines when the workload has no pod.
func TemplatePod(kind, namespace, workload string, tpl *corev1.PodTemplateSpec) *corev1.Pod {
	name := workload + "-template"
	return replicaPod(kind, namespace, workload, tpl, name, engine.StableUID("pod", namespace, name), engine.Epoch)
}
